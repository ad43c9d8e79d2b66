"""``deepprior ui``: serve the web app (needs the ``ui`` extra: Gradio)."""

from __future__ import annotations

import click

from .common import option, task_command

__all__ = ["register", "ui"]


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0: every interface; mind who can reach it).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=7860,
    show_default=True,
    help="Port to listen on.",
)
@click.option("--share", is_flag=True, help="Also serve it through a public gradio.live link.")
@option("device")
@click.option(
    "--refresh",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between two updates of a running fit's page.",
)
@task_command
def ui(host: str, port: int, share: bool, device: str, refresh: float) -> None:
    """Serve the web app: upload an image, pick a task and a preset, paint a mask, watch the
    fit, stop it when you like, download the result, its report and a time-lapse."""
    from ..ui.app import build_app

    app = build_app(device=device, refresh=refresh)
    app.launch(server_name=host, server_port=port, share=share, ssr_mode=False)


def register(group: click.Group) -> click.Group:
    """Add ``ui`` to a click group.

    Example:
        >>> import click
        >>> sorted(register(click.Group("deepprior")).commands)
        ['ui']
    """
    group.add_command(ui)
    return group
