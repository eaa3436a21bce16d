"""`sparkctl models sync` and `sparkctl images sync`, and the `up --setup` step that runs both."""

from __future__ import annotations

import click


@click.group("models")
def models_group():
    """Put a recipe's model into every node's Hugging Face cache."""


@models_group.command("sync")
@click.argument("recipe")
@click.option("--nodes", help="Comma-separated node names (default: every inventory node).")
@click.option("--verify", is_flag=True, help="First re-hash every blob on the nodes; repair those that differ.")
@click.option("--prune", is_flag=True, help="Remove snapshot files the manifest does not list (default: report them).")
@click.option("--streams", type=click.IntRange(1, 64), default=4, show_default=True, help="TCP streams per copy.")
@click.option("--bwlimit", type=click.FloatRange(0), default=0, help="Cap each copy at this many MiB/s (0: no cap).")
@click.option("--dry-run", is_flag=True, help="Print the plan; connect to nothing.")
@click.pass_context
def models_sync(ctx, recipe, nodes, verify, prune, streams, bwlimit, dry_run):
    """Download RECIPE's model once, copy it node to node over the fabric, verify every node."""
    from orchestrator.sync.models import SyncOptions

    options = SyncOptions(verify, prune, streams, bwlimit)
    run_sync(ctx.find_root().obj, recipe, nodes, images=False, options=options, dry_run=dry_run)


@click.group("images")
def images_group():
    """Make every node hold the identical container image."""


@images_group.command("sync")
@click.argument("recipe")
@click.option("--nodes", help="Comma-separated node names (default: every inventory node).")
@click.option("--dry-run", is_flag=True, help="Print the plan; connect to nothing.")
@click.pass_context
def images_sync(ctx, recipe, nodes, dry_run):
    """Ship RECIPE's image with docker save | docker load, node to node, to nodes that lack it."""
    run_sync(ctx.find_root().obj, recipe, nodes, images=True, options=None, dry_run=dry_run)


def register(cli: click.Group) -> None:
    """Add the sync command groups to the main CLI."""
    cli.add_command(models_group)
    cli.add_command(images_group)


def run_sync(settings, recipe_name: str, nodes: str | None, images: bool, options, dry_run: bool = False) -> None:
    """Resolve recipe and nodes, then sync the image or the model on them (or print the plan)."""
    from orchestrator.config.settings import select_nodes

    inventory = settings.load_inventory()
    targets = select_nodes(inventory, nodes, all_nodes=not nodes)
    recipe = settings.book().resolve(recipe_name)
    if dry_run:
        show(settings, setup_plan(settings, recipe, targets, images=images, models=not images, options=options))
        return
    setup(settings, inventory, recipe, targets, images=images, models=not images, options=options)


def show(settings, plan) -> None:
    """Print a plan, secrets by name only."""
    from orchestrator.plan.show import plan_text, plan_to_dict
    from orchestrator.report import console

    secrets = sorted({name for phase in plan.phases for step in phase.steps for name in step.secrets})
    if settings.json:
        console.emit_json(plan_to_dict(plan, secrets))
    else:
        console.info(plan_text(plan, secrets))


def setup_plan(settings, recipe, nodes, images: bool = True, models: bool = True, options=None):
    """What setup does on a cluster where only the first node holds the image and no node the model."""
    from orchestrator.plan.data import Plan
    from orchestrator.sync import images as image_sync
    from orchestrator.sync import models as model_sync

    phases = ()
    if images:
        phases += image_sync.plan_image_sync(nodes, recipe.container, nodes[0], list(nodes[1:]),
                                             settings.templates_dir).phases
    if models:
        job = model_sync.Job(recipe.model, recipe.revision or "main", recipe.container, settings.templates_dir,
                             options or model_sync.SyncOptions())
        phases += model_sync.plan_model_sync(nodes, job).phases
    return Plan(action="setup", phases=phases)


def setup(settings, inventory, recipe, nodes, images: bool = True, models: bool = True, options=None,
          secrets: dict[str, str] | None = None) -> None:
    """Images first (the download runs in the image), then the model; one summary line each.

    secrets: what `up -e` forwarded (HF_TOKEN for a gated model) on top of the operator's environment.
    """
    from orchestrator.remote.session import session
    from orchestrator.report import console
    from orchestrator.sync import images as image_sync
    from orchestrator.sync import models as model_sync

    with session(settings, inventory, {**model_sync.hub_env(), **(secrets or {})}) as current, current.locked(nodes):
        if images:
            shipped = image_sync.sync_image(current, nodes, recipe.container, inventory.nodes)
            console.info(f"images sync: {recipe.container} identical on {', '.join(n.name for n in nodes)}"
                         + _moved(shipped))
        if models:
            copied = model_sync.sync_model(current, nodes, recipe.model, recipe.revision, recipe.container,
                                           inventory.nodes, options or model_sync.SyncOptions())
            console.info(f"models sync: {recipe.model} complete on {', '.join(n.name for n in nodes)}"
                         + _moved(copied))


def _moved(transfers) -> str:
    from orchestrator.sync.stream import human_bytes

    if not transfers:
        return " (nothing to copy)"
    total = sum(t.bytes for t in transfers)
    seconds = max(t.seconds for t in transfers)
    return (f"; copied {human_bytes(total)} to {', '.join(t.target for t in transfers)} "
            f"at {human_bytes(total / max(seconds, 1e-6))}/s")
