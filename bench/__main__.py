"""``bench/run``: measure every figure of issue 7 against its baseline, print and save the table.

bench/run                      all figures; writes bench/results/latest.{json,md}
bench/run --quick              fewer repetitions (prints; --output DIR to save)
bench/run --only launcher,tls  some figures (names below); --skip NAME leaves some out
bench/run --image TAG          use a loaded image instead of building the working tree
bench/run --update-readme      also put the Markdown between the README's bench markers
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

from bench import machine
from bench.session import Session
from bench.table import BenchError, Figure, Results, from_json, render_markdown, render_text, to_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

# name -> (module, what it measures); run in this order (build first: the others reuse its images)
FIGURES = {
    "build": ("bench.fig_build", "cold and warm build time, digest equal across builds"),
    "size": ("bench.fig_size", "image bytes, compressed and per component, against the engine's closure"),
    "compress": ("bench.fig_compress", "archive size with build --compress zstd against gzip, and build time"),
    "launcher": ("bench.fig_launcher", "launcher start to exec of dockerd, and where the time goes"),
    "ready": ("bench.fig_ready", "docker run -d to the nested API answering, against dockerd alone"),
    "memory": ("bench.fig_memory", "RSS of PID 1 in reap mode, against dockerd and the Python supervisor"),
    "tls": ("bench.fig_tls", "first-start certificates against docker:dind's openssl recipe"),
    "reaping": ("bench.fig_reaping", "10,000 orphans under the launcher in reap mode"),
    "bridge": ("bench.fig_bridge", "the --bip/-b bridge step, stdlib netlink against pyroute2"),
    "nested": ("bench.fig_nested", "nested docker run --rm IMAGE true against the host engine"),
    "pods": ("bench.fig_pods", "ten standalone Kubernetes pods at once (emulated): start-up and memory per pod"),
    "rootless": ("bench.fig_rootless", "the rootless variant's size and start against the rootful image's"),
    "bare-kernel": ("bench.fig_bare_kernel", "/init to dockerd answering, amd64 and arm64 under QEMU TCG"),
    "load": ("bench.fig_load", "ten DinD containers at once, 20 nested runs + 1 build each, against exec mode"),
}


def _names(values: list[str]) -> list[str]:
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in FIGURES]
    if unknown:
        raise SystemExit(f"bench: error: unknown figure {', '.join(unknown)} (choose from {', '.join(FIGURES)})")
    return names


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Benchmarks of docker-from-scratch, each against a baseline measured in the same run.",
        epilog="figures: " + "; ".join(f"{name}: {what}" for name, (_, what) in FIGURES.items()),
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a few minutes)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME[,NAME]", help="run only these figures")
    parser.add_argument("--skip", action="append", default=[], metavar="NAME[,NAME]", help="leave these figures out")
    parser.add_argument("--image", metavar="TAG", help="a loaded image to run instead of building the working tree")
    parser.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="write latest.json and latest.md here (default: bench/results/ for a complete run)",
    )
    parser.add_argument(
        "--update-readme", action="store_true", help=f"replace the README's Performance block ({BEGIN} ... {END})"
    )
    parser.add_argument(
        "--from-results",
        type=Path,
        metavar="JSON",
        help="measure nothing: render a saved latest.json again (with --update-readme, --output)",
    )
    parser.add_argument("--keep-work", action="store_true", help="keep the temporary work directory")
    args = parser.parse_args(argv)
    args.only, args.skip = _names(args.only), _names(args.skip)
    return args


def run_figures(session: Session, names: list[str]) -> Results:
    results = Results()
    for name in names:
        module_name, _ = FIGURES[name]
        started = time.monotonic()
        session.log(f"--- {name}")
        try:
            module = importlib.import_module(module_name)
            results.extend(module.measure(session))
        except BenchError as exc:
            session.log(f"{name}: failed: {exc.one_line()}")
            results.figures.append(Figure(key=f"{name}.failed", title=name, unit="", error=exc.one_line()))
        session.log(f"{name}: {time.monotonic() - started:.0f} s")
    return results


def preamble(context: dict[str, object], quick: bool) -> str:
    described = machine.one_line(context["machine"])  # type: ignore[arg-type]
    return (
        "`bench/run` measures every figure against a baseline taken in the same run and writes "
        "`bench/results/latest.json` and `latest.md` (`--quick`: fewer repetitions; `--only NAME`: some "
        "figures; `--update-readme`: this section; `bench/run --help` lists the figures). It builds the "
        "working tree's image first and cleans up every container and volume it starts; it needs root, the "
        "host engine (`scripts/setup`), gcc with a static libc, and qemu for the bare-kernel figure.\n\n"
        f"Last run{' (--quick)' if quick else ''}: {described}. "
        "Each figure is the median of the runs shown, next to its baseline's median; the ratio is "
        "ours / baseline. Figures that miss their target say what holds them back.\n"
    )


def update_readme(markdown: str, readme: Path = README) -> None:
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"bench: error: {readme} has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    generated = "<!-- generated by bench/run --update-readme: run it again, do not edit -->\n"
    readme.write_text(f"{head}{BEGIN}\n{generated}{markdown}{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    names = [name for name in (args.only or FIGURES) if name not in args.skip]
    complete = names == list(FIGURES) and not args.quick
    if args.from_results:
        doc = json.loads(args.from_results.read_text())
        context = {key: doc[key] for key in ("machine", "quick", "figures_run")}
        results, args.quick = from_json(doc), bool(doc["quick"])
        complete = False
    else:
        context = {"machine": machine.describe(), "quick": args.quick, "figures_run": names}
        session = Session(quick=args.quick, image=args.image, keep_work=args.keep_work)
        try:
            results = run_figures(session, names)
        finally:
            session.close()
            if args.keep_work:
                session.log(f"work directory kept: {session.work}")
    markdown = render_markdown(results, preamble(context, args.quick))
    print(render_text(results))
    output = args.output or (RESULTS if complete else None)
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        (output / "latest.json").write_text(json.dumps(to_json(results, **context), indent=1) + "\n")
        (output / "latest.md").write_text(markdown)
        print(f"bench: wrote {output / 'latest.json'} and {output / 'latest.md'}", file=sys.stderr)
    if args.update_readme:
        saved = output / "latest.md" if output else args.from_results.with_suffix(".md") if args.from_results else None
        where = "not saved (no --output)"
        if saved is not None and saved.resolve().is_relative_to(ROOT):
            link = saved.resolve().relative_to(ROOT)
            where = f"[{link}]({link})"
        epilogue = f"Where the time goes, sizes per component and every run: {where}."
        update_readme(render_markdown(results, preamble(context, args.quick), details=False, epilogue=epilogue))
        print(f"bench: updated the Performance block of {README}", file=sys.stderr)
    return 1 if any(f.status == "failed" for f in results.figures) else 0


if __name__ == "__main__":
    sys.exit(main())
