"""`sparkctl bench`: run llama-benchy against the deployment; list, show and compare stored runs."""

from __future__ import annotations

import click


class IntList(click.ParamType):
    """`1,2,4` into (1, 2, 4)."""

    name = "N[,N...]"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            numbers = tuple(int(part) for part in str(value).split(",") if part.strip())
        except ValueError:
            self.fail(f"{value!r}: expected whole numbers separated by commas, e.g. 1,2,4", param, ctx)
        if not numbers or any(n < 0 for n in numbers):
            self.fail(f"{value!r}: expected whole numbers >= 0 separated by commas, e.g. 1,2,4", param, ctx)
        return numbers


INTS = IntList()


@click.group(invoke_without_command=True)
@click.option("--pp", type=INTS, help="Prompt sizes in tokens, e.g. 512,2048 (default: the recipe's benchmark.args).")
@click.option("--tg", type=INTS, help="Generated tokens per request, e.g. 32,128.")
@click.option("--depth", type=INTS, help="Context depths, e.g. 0,4096.")
@click.option("--concurrency", type=INTS, help="Concurrent requests, e.g. 1,2,4.")
@click.option("--runs", type=click.IntRange(min=1), help="Runs per test.")
@click.option("--tokenizer", metavar="DIR", help="Directory with the model's tokenizer.json (never fetched from the hub).")
@click.option("--book", metavar="FILE", help="Plain-text file llama-benchy builds prompts from (kept in its cache).")
@click.option("--book-url", metavar="URL", help="A book URL already in llama-benchy's cache (default: its own).")
@click.option("--drop-caches", is_flag=True, help="Drop the page cache on the deployment's nodes after each run.")
@click.option("--skip-coherence", is_flag=True, help="Skip llama-benchy's 'capital of France' check (for test servers).")
@click.option("--deployment", "name", help="Which deployment, when several run (a stack's deployment name or an id).")
@click.pass_context
def bench(ctx, pp, tg, depth, concurrency, runs, tokenizer, book, book_url, drop_caches, skip_coherence, name):
    """Benchmark the running deployment with llama-benchy and store the result; or list/show/compare runs."""
    if ctx.invoked_subcommand is not None:
        return
    if concurrency is not None and 0 in concurrency:
        raise click.BadParameter("concurrency must be at least 1", param_hint="--concurrency")
    from orchestrator.bench import run as running

    request = running.Request(pp, tg, depth, concurrency, runs, tokenizer, book, book_url, drop_caches, skip_coherence,
                              name)
    running.run_bench(ctx.obj, request)


@bench.command("list")
@click.pass_context
def bench_list(ctx):
    """Every stored run."""
    from orchestrator.bench import report, store

    runs, problems = store.list_runs()
    report.print_list(runs, problems, ctx.obj.json)


@bench.command("show")
@click.argument("run_id", metavar="RUN")
@click.pass_context
def bench_show(ctx, run_id):
    """One stored run: provenance and results."""
    from orchestrator.bench import report, store

    report.print_show(store.load(run_id), ctx.obj.json)


@bench.command("compare")
@click.argument("run_ids", metavar="RUN RUN...", nargs=-1, required=True)
@click.option("--plot", metavar="FILE.png", help="Also plot tokens/s against concurrency, one line per run.")
@click.pass_context
def bench_compare(ctx, run_ids, plot):
    """Runs side by side per concurrency, with ratios to the first; warns when more than the topology differs."""
    from orchestrator.bench import report, store

    if len(run_ids) < 2:
        raise click.UsageError("compare needs at least two runs (use 'sparkctl bench show RUN' for one)")
    report.print_compare([store.load(r) for r in run_ids], plot, ctx.obj.json)
