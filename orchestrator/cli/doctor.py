"""`sparkctl doctor` and `sparkctl init`: check the nodes, or write the inventory from what they report."""

from __future__ import annotations

import sys

import click


@click.command()
@click.option("--nodes", help="Comma-separated node names (default: every inventory node).")
@click.option("--image", "images", multiple=True, metavar="IMAGE",
              help="Check this image (present, right architecture) instead of every image the catalog names.")
@click.pass_context
def doctor(ctx, nodes, images):
    """Check fabric, RDMA, docker, images, disk, memory and clocks; exit 1 on any error."""
    from orchestrator.ops import doctor as ops_doctor

    if not ops_doctor.doctor(ctx.find_root().obj, nodes, images):
        sys.exit(1)


@click.command()
@click.argument("ips", nargs=-1, required=True)
@click.option("--user", help="SSH user on the nodes (default: your local user name).")
@click.option("--port", type=int, default=22, show_default=True, help="SSH port.")
@click.option("--ssh-key", help="Private key to log in with (default: your agent and ~/.ssh).")
@click.option("--known-hosts", help="known_hosts file to verify (and record) the nodes' host keys.")
@click.option("--output", "-o", default="inventory.yaml", show_default=True, help="Where to write the inventory.")
@click.option("--yes", "-y", is_flag=True, help="Overwrite an existing file without asking.")
@click.pass_context
def init(ctx, ips, user, port, ssh_key, known_hosts, output, yes):
    """Write inventory.yaml for the Sparks at IPS from what they report over SSH."""
    import getpass
    from pathlib import Path

    from orchestrator.ops import discover
    from orchestrator.report import console

    access = discover.Access(user or getpass.getuser(), port, ssh_key, known_hosts)
    text = discover.discover(ctx.find_root().obj, tuple(ips), access, Path(output))
    console.info(text.rstrip())
    if Path(output).exists() and not yes:
        click.confirm(f"{output} exists; overwrite it?", abort=True)
    discover.write(Path(output), text)
    console.info(f"wrote {output}")


def register(cli: click.Group) -> None:
    """Add `doctor` and `init` to the main CLI."""
    cli.add_command(doctor)
    cli.add_command(init)
