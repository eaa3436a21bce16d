"""`sparkctl models sync` and `sparkctl images sync`, and the `up --setup` step that runs both."""

from __future__ import annotations

import click


@click.group("models")
def models_group():
    """Put a recipe's model into every node's Hugging Face cache."""


@models_group.command("sync")
@click.argument("recipe")
@click.option("--nodes", help="Comma-separated node names (default: every inventory node).")
@click.pass_context
def models_sync(ctx, recipe, nodes):
    """Download RECIPE's model once, copy it node to node over the fabric, verify every node."""
    run_sync(ctx.find_root().obj, recipe, nodes, images=False, models=True)


@click.group("images")
def images_group():
    """Make every node hold the identical container image."""


@images_group.command("sync")
@click.argument("recipe")
@click.option("--nodes", help="Comma-separated node names (default: every inventory node).")
@click.pass_context
def images_sync(ctx, recipe, nodes):
    """Ship RECIPE's image with docker save | docker load, node to node, to nodes that lack it."""
    run_sync(ctx.find_root().obj, recipe, nodes, images=True, models=False)


def register(cli: click.Group) -> None:
    """Add the sync command groups to the main CLI."""
    cli.add_command(models_group)
    cli.add_command(images_group)


def run_sync(settings, recipe_name: str, nodes: str | None, images: bool, models: bool) -> None:
    """Resolve recipe and nodes, then sync the image and/or model on them."""
    from orchestrator.config.settings import select_nodes

    inventory = settings.load_inventory()
    targets = select_nodes(inventory, nodes, all_nodes=not nodes)
    setup(settings, inventory, settings.book().resolve(recipe_name), targets, images=images, models=models)


def setup(settings, inventory, recipe, nodes, images: bool = True, models: bool = True) -> None:
    """Images first (the download runs in the image), then the model; one summary line each."""
    from orchestrator.remote.session import session
    from orchestrator.report import console
    from orchestrator.sync import images as image_sync
    from orchestrator.sync import models

    with session(settings, inventory, models.hub_env()) as current:
        if images:
            shipped = image_sync.sync_image(current, nodes, recipe.container, inventory.nodes)
            console.info(f"images sync: {recipe.container} identical on {', '.join(n.name for n in nodes)}"
                         + _moved(shipped))
        if models:
            copied = models.sync_model(current, nodes, recipe.model, recipe.revision, recipe.container,
                                          inventory.nodes)
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
