"""Every file a restoration command reads is protected from every file it writes, and every
output is checked before any image is decoded or the fit starts.

The property test draws, for every registered task (so a new task is covered without a new
test), one read option (``INPUT``, ``--mask``, ``--flash``, ``--no-flash``, ``--gt``) and one
written file (``-o``, the task's extra images, ``--report``, a snapshot, the fit state)
named by the same file under some spelling, and checks the command is refused with exit
status 2 before any image is decoded, the read file untouched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepprior.cli import cli
from deepprior.io import save_image
from deepprior.tasks import get_task, list_tasks

TINY_NET = ["--net-arg", "n_d=[8,8,8]", "--net-arg", "n_s=2", "--net-arg", "depth=3"]
DECODED = "an input image was decoded"


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if the command decodes an input (the fit comes after that)."""

    def decode(*args, **kwargs):
        raise AssertionError(DECODED)

    monkeypatch.setattr("deepprior.cli.restore._read_inputs", decode)


def one_error_line(result) -> str:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("deepprior: error: "), result.stderr
    return lines[0]


def tiny_png(path: Path, value: float = 0.5) -> Path:
    save_image(torch.full((3, 16, 16), value), path)
    return path


def invoke(*args: str):
    return CliRunner().invoke(cli, [*map(str, args), "--device", "cpu", "-q"])


# --- The property: for every (read option, written file) pair, the same file is refused ---


def _read_options(task) -> list[tuple[str | None, str]]:
    """(flag or None for INPUT, option name) of every file the task's command reads."""
    return [(None if o.positional else o.cli_flag, o.param) for o in task.inputs] + [("--gt", "gt")]


def _settings(task, draw) -> dict[str, str]:
    """Drawn values of the task's own options (which decide the extra images)."""
    out = {}
    for o in task.options:
        values = o.choices or ([o.default or 0.5] if o.type in (int, float) else [])
        value = draw(st.sampled_from([*([] if o.required else [None]), *values]))
        if value is not None:
            out[o.cli_flag] = str(value)
    return out


def _spellings(path: Path) -> dict[str, Path]:
    """Names of the existing file ``path``: itself and other spellings of it."""
    d = path.parent
    (d / "sub").mkdir(exist_ok=True)
    link, hard = d / f"link_{path.name}", d / f"hard_{path.name}"
    link.unlink(missing_ok=True)
    hard.unlink(missing_ok=True)
    link.symlink_to(path)
    os.link(path, hard)
    return {
        "same": path, "dotdot": d / "sub" / ".." / path.name, "symlink": link,
        "hardlink": hard, "relative": Path(os.path.relpath(path)),
    }  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_read_file_is_never_a_written_one(tmp_path_factory, no_decoding, data):
    task = get_task(data.draw(st.sampled_from(list_tasks()), label="task"))
    d = tmp_path_factory.mktemp("pair")
    flag, read_param = data.draw(st.sampled_from(_read_options(task)), label="read")
    opts = _settings(task, data.draw)
    settings_ = {o.param: opts.get(o.cli_flag) for o in task.options}
    out = d / "o.png"
    written = {"-o": out, "state": d / "o.state.pt", "--report": d / "r.json",
               "snapshot": d / "snaps" / "step_000001.png"}  # fmt: skip
    for name in task.extras_for(**settings_):
        written[name] = d / f"o.{name}.png"
    kind = data.draw(st.sampled_from(sorted(written)), label="written")
    target = written[kind]
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(tiny_png(d / "bytes.png").read_bytes())
    before = target.read_bytes()
    spellings = _spellings(target)
    read_path = spellings[data.draw(st.sampled_from(sorted(spellings)), label="spelling")]
    args: list[str] = [task.name]
    for o_flag, param in _read_options(task)[:-1]:  # the images: the drawn one, or others
        path = read_path if param == read_param else tiny_png(d / f"other_{param}.png")
        args += [str(path)] if o_flag is None else [o_flag, str(path)]
    if read_param == "gt":
        args += ["--gt", str(read_path)]
    for k, v in opts.items():
        args += [k, v]
    args += ["-o", str(out), "--report", str(d / "r.json")]
    args += ["--save-every", "1", "--snapshot-dir", str(d / "snaps")]
    t0 = time.perf_counter()
    result = invoke(*args)
    line = one_error_line(result)
    assert "refusing to overwrite" in line, line
    assert time.perf_counter() - t0 < 5
    assert target.read_bytes() == before


@pytest.mark.parametrize("name", list_tasks())
def test_distinct_paths_pass_the_guard(tmp_path, no_decoding, name):
    # The property above is not vacuous: with every path distinct the command goes on to
    # decode its inputs (the fixture's AssertionError), with every option of the property.
    task = get_task(name)
    args: list[str] = [name]
    for o in task.options:
        args += [o.cli_flag, str(o.default or 1.0)] if o.required else []
    for o_flag, param in _read_options(task):
        path = str(tiny_png(tmp_path / f"{param}.png"))
        args += [path] if o_flag is None else [o_flag, path]
    args += ["-o", str(tmp_path / "o.png"), "--report", str(tmp_path / "r.json")]
    args += ["--save-every", "1", "--snapshot-dir", str(tmp_path / "snaps")]
    result = invoke(*args)
    assert isinstance(result.exception, AssertionError) and DECODED in str(result.exception)


# --- The cases found by hand, each refused before any work ---


@pytest.mark.parametrize(
    ("files", "args", "protected", "message"),
    [
        (["in", "gt"], ["denoise", "in.png", "-o", "gt.png", "--gt", "gt.png"], "gt.png",
         "the --gt file gt.png with the output"),
        (["in", "o.bicubic"], ["sr", "in.png", "--factor", "2", "-o", "o.png", "--gt",
                               "o.bicubic.png"], "o.bicubic.png", "with the bicubic image"),
        (["x.bicubic"], ["sr", "x.bicubic.png", "--factor", "2", "-o", "x.png"],
         "x.bicubic.png", "the input x.bicubic.png with the bicubic image"),
        (["r.coarse"], ["enhance", "r.coarse.png", "-o", "r.png"], "r.coarse.png",
         "with the coarse image"),
        (["o.mask"], ["inpaint", "o.mask.png", "--mask-kind", "box", "-o", "o.png"],
         "o.mask.png", "with the mask image"),
        (["step_000001"], ["denoise", "step_000001.png", "-o", "o.png", "--save-every", "1",
                           "--snapshot-dir", "."], "step_000001.png", "--save-every snapshot"),
    ],
    ids=["gt-output", "gt-bicubic", "input-bicubic", "input-coarse", "input-mask",
         "input-snapshot"],
)  # fmt: skip
def test_known_clashes_are_refused_before_the_fit(
    tmp_path, monkeypatch, no_decoding, files, args, protected, message
):
    monkeypatch.chdir(tmp_path)
    for f in files:
        tiny_png(tmp_path / f"{f}.png", 0.3)
    before = (tmp_path / protected).read_bytes()
    line = one_error_line(invoke(*args))
    assert message in line, line
    assert (tmp_path / protected).read_bytes() == before
    made = {p.name for p in tmp_path.iterdir()} - {f"{f}.png" for f in files}
    assert not made, made  # (no main output left behind, e.g. x.png)


def test_a_snapshot_dir_that_is_a_file_is_refused(tmp_path, no_decoding):
    src = tiny_png(tmp_path / "in.png")
    line = one_error_line(
        invoke("denoise", src, "-o", tmp_path / "o.png", "--save-every", "1",
               "--snapshot-dir", src)
    )  # fmt: skip
    assert "--snapshot-dir" in line and "not a folder" in line


@pytest.mark.parametrize("where", ["long", "proc"])
def test_an_output_that_cannot_be_created_is_refused_before_the_fit(tmp_path, no_decoding, where):
    if where == "proc" and not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    out = tmp_path / ("a" * 252 + ".png") if where == "long" else Path("/proc/deepprior.png")
    line = one_error_line(invoke("denoise", tiny_png(tmp_path / "in.png"), "-o", out))
    assert f"cannot write {out}" in line


def test_a_seed_out_of_range_is_a_one_line_error(tmp_path, no_decoding, monkeypatch, capsys):
    from deepprior.cli import main

    argv = ["deepprior", "denoise", str(tiny_png(tmp_path / "in.png")), "-o",
            str(tmp_path / "o.png"), "--seed", "99999999999999999999999"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("deepprior: error: "), lines
    assert "--seed" in lines[0]


def test_no_fitting_step_warns_that_the_output_is_untrained(tmp_path, one_thread):
    out = tmp_path / "o.png"
    result = invoke("denoise", tiny_png(tmp_path / "in.png"), "-o", out, "--iters", "0",
                    "--preset", "paper", *TINY_NET)  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert "warning: no fitting step ran" in result.stderr and str(out) in result.stderr


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_importing_is_one_line_and_status_130():
    # Ctrl-C arrives while torch is being imported: the finder below sends it at that moment.
    script = textwrap.dedent(
        """
        import os, signal, sys

        class CtrlC:
            def find_spec(self, name, path=None, target=None):
                if name == "torch":
                    os.kill(os.getpid(), signal.SIGINT)
                return None

        sys.meta_path.insert(0, CtrlC())
        sys.argv = ["deepprior", "--help"]
        from deepprior.cli import main
        main()
        """
    )
    # A suite started in the background inherits an ignored SIGINT: give the child Python the
    # default disposition, as a command started from a terminal has.
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, preexec_fn=_default_sigint)  # fmt: skip
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "deepprior: interrupted\n"
