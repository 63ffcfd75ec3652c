"""``dia run -- CMD ARGS...``: run a command, measure its whole process tree, save the report.

The summary goes to stderr (the command's own output stays clean on stdout) and
``dia run`` exits with the command's exit code (128 + N when a signal N ended it), or
with 2 and a one-line error, before running anything, when an option is invalid
(unknown meter, kind or relation, a model id that is not one, a model listed as its own
parent). Once the command has run, a problem inside DIA is a ``warning:`` line on stderr,
never an exception: the report is saved (to the store, else a fallback file) and the exit
code is still the command's. A run the command starts (``dia.track``, a training
callback, another ``dia run``) is recorded as a window of this one, counted once::

    dia run --model me/tiny --parent org/base:lora --kind finetune --country FRA -- python train.py
"""

from __future__ import annotations

import signal
import subprocess
import warnings
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dia.cli._common import DbOption, JsonOption, err_console, fail
from dia.errors import DIAWarning
from dia.redact import describe_error

if TYPE_CHECKING:  # pragma: no cover
    from dia.record.report import Quantity, RunReport
    from dia.tracker import Run


def _q(q: Quantity | None) -> str:
    if q is None:
        return "-"
    from dia.show import format_range

    return f"{format_range(q.value, q.low, q.high, q.unit)}  ({q.quality.value})"


def summary_lines(report: RunReport) -> list[str]:
    """The one-screen summary: energy, carbon and water with intervals and quality."""
    lines = [
        f"run {report.id}  {report.model_id or '(no model)'}  {report.kind.value}  {report.status.value}",
        f"duration   {report.duration_s or 0:.1f} s   meter {report.meter}   location {report.location.describe()}",
        f"energy     {_q(report.energy.it_kwh)}",
    ]
    if report.energy.facility_kwh is not None:
        lines.append(f"facility   {_q(report.energy.facility_kwh)}")
    lines.append(f"carbon     {_q(report.carbon.total_kg if report.carbon else None)}")
    lines.append(f"water      {_q(report.water.total_l if report.water else None)}")
    # A window's report is not stored: say so first, whatever else the notes hold.
    window = [n for n in report.notes if "window_of" in report.extra and n.startswith("measured as a window of run")]
    lines += [f"note: {n}" for n in [*window, *(n for n in report.notes if n not in window)][:4]]
    return lines


def _exit_code(returncode: int) -> int:
    return returncode if returncode >= 0 else 128 - returncode


def _status(returncode: int) -> str:
    if returncode == 0:
        return "completed"
    if returncode in (-signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGINT, 128 + signal.SIGTERM):
        return "interrupted"
    return "failed"


def register(app: typer.Typer) -> None:
    """Add ``dia run`` to ``app``."""

    @app.command("run", context_settings={"allow_interspersed_args": False})
    def run_cmd(
        command: Annotated[list[str], typer.Argument(help="The command to run, after `--`.", show_default=False)],
        model: Annotated[str | None, typer.Option("--model", "-m", help="Model id the run produces or uses.")] = None,
        parent: Annotated[list[str] | None, typer.Option("--parent", "-p", help="Parent model ID[:RELATION]; repeatable.")] = None,
        kind: Annotated[str, typer.Option("--kind", "-k", help="pretraining, finetuning, adapter, inference, ...")] = "other",
        country: Annotated[str | None, typer.Option("--country", help="ISO 3166 alpha-3 country of the machine.")] = None,
        region: Annotated[str | None, typer.Option("--region", help="Sub-national grid region (US state, ...).")] = None,
        cloud_provider: Annotated[str | None, typer.Option("--cloud-provider")] = None,
        cloud_region: Annotated[str | None, typer.Option("--cloud-region")] = None,
        meter: Annotated[str, typer.Option("--meter", help="auto, nvml, rapl, estimate or codecarbon.")] = "auto",
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Run COMMAND, measure it (the whole process tree), save and summarise the report."""
        from dia.errors import DIAError
        from dia.tracker import track

        kwargs: dict[str, Any] = {"store": db} if db else {}
        try:
            run = track(model, parents=parent or [], kind=kind, country=country, region=region,
                        cloud_provider=cloud_provider, cloud_region=cloud_region, meter=meter, **kwargs)
        except DIAError as exc:  # bad options or settings: refused before the command runs
            raise fail(str(exc), 2) from None
        with warnings.catch_warnings(record=True) as caught:
            # DIA's own problems are one line each on stderr, never an exception: the
            # command's exit code is what `dia run` returns.
            warnings.simplefilter("always", DIAWarning)
            code = _run_measured(run, command, as_json)
        for w in caught:
            if issubclass(w.category, DIAWarning):
                err_console.print(f"warning: {w.message}", markup=False, highlight=False, soft_wrap=True)
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        raise typer.Exit(code)


def _run_measured(run: Run, command: list[str], as_json: bool) -> int:
    """Run ``command`` inside ``run``; the exit code to return (the command's own)."""
    try:
        run.start()
    except Exception as exc:  # DIA could not even start measuring: the command still runs
        warnings.warn(f"DIA: the run could not start ({describe_error(exc)}): not measured", DIAWarning, stacklevel=2)
    try:
        # The command inherits DIA_OUTER_RUN and DIA_WINDOWS_DIR, exported by run.start(): a
        # dia.track inside it is recorded as a window of this run, not a second measurement.
        proc = subprocess.Popen(command)
    except OSError as exc:
        _stop_quietly(run, "failed", f"command could not start: {exc.strerror}")
        raise fail(f"cannot run {command[0]}: {exc.strerror}", 127) from None
    returncode = _wait_forwarding_signals(proc)
    report = _stop_quietly(run, _status(returncode))
    if report is not None:
        try:
            if as_json:
                typer.echo(report.to_json(indent=2))
            for line in summary_lines(report):
                err_console.print(line, markup=False, highlight=False, soft_wrap=True)
        except Exception as exc:
            warnings.warn(f"DIA: the summary could not be shown ({describe_error(exc)})", DIAWarning, stacklevel=2)
    return _exit_code(returncode)


def _stop_quietly(run: Run, status: str, note: str | None = None) -> RunReport | None:
    try:
        return run.stop(status, note=note)
    except Exception as exc:  # stop() does not raise; this is the belt to its braces
        warnings.warn(f"DIA: the run could not be saved ({describe_error(exc)})", DIAWarning, stacklevel=2)
        return None


def _wait_forwarding_signals(proc: subprocess.Popen[bytes]) -> int:
    """Wait for the child; SIGTERM is passed on, Ctrl-C is left to the child (same group)."""
    def forward(signum: int, _frame: Any) -> None:
        proc.send_signal(signum)

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[sig] = signal.signal(sig, forward if sig == signal.SIGTERM else signal.SIG_IGN)
        except ValueError:  # not the main thread (tests calling the app in a thread)
            pass
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
