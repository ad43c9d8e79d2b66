"""The web app (``deepprior ui``): upload an image, pick a task and a preset, paint a mask,
watch the fit and download the result, its report and a time-lapse.

:mod:`.worker` runs the fits (no Gradio needed); :mod:`.app` builds the Gradio page and needs
the ``ui`` extra (``pip install 'deepprior[ui]'``).
"""
