"""The ``crmforge`` command line (DESIGN §9): init, serve, tenant create."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .core.errors import CRMError
from .runtime import Instance


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _open(path: str) -> Instance:
    try:
        return Instance.open(path)
    except CRMError as exc:
        _fail(exc.message)
        raise  # unreachable; keeps type checkers content


@click.group()
@click.version_option(package_name="crmforge")
def main() -> None:
    """CRMForge: a low-code CRM platform."""


@main.command()
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the instance (created if missing).")
@click.option("--admin-password", required=True,
              help="Password of the 'admin' user of the default tenant.")
@click.option("--database-url", default=None, envvar="CRMFORGE_DATABASE_URL",
              help="PostgreSQL URL; SQLite files in the instance folder when omitted.")
def init(instance_dir: str, admin_password: str, database_url: str | None) -> None:
    """Create an instance with its control database, the 'default' tenant and 'admin'."""
    try:
        inst = Instance.init(instance_dir, admin_password, database_url=database_url)
    except CRMError as exc:
        detail = "; ".join(m for msgs in exc.fields.values() for m in msgs)
        _fail(exc.message + (f" ({detail})" if detail and detail not in exc.message else ""))
        return
    inst.dispose()
    click.echo(f"created instance {Path(instance_dir).resolve()} with tenant 'default' "
               "and user 'admin'")


@main.command()
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
def serve(instance_dir: str, host: str, port: int) -> None:
    """Serve the web application and the REST API."""
    from .web import create_app

    app = create_app(_open(instance_dir))
    click.echo(f"CRMForge on http://{host}:{port}/  (API documentation: /api/v1/docs)")
    try:
        from waitress import serve as waitress_serve  # production-grade when installed
    except ImportError:
        app.run(host=host, port=port, threaded=True)
    else:
        waitress_serve(app, host=host, port=port, threads=8)


@main.group()
def tenant() -> None:
    """Manage tenants."""


@tenant.command("create")
@click.argument("name")
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False))
@click.option("--admin-password", default=None,
              help="Password for the tenant's 'admin' user; generated and shown when omitted.")
def tenant_create(name: str, instance_dir: str, admin_password: str | None) -> None:
    """Add a tenant with its own database namespace and an 'admin' user."""
    inst = _open(instance_dir)
    try:
        _, password = inst.create_tenant(name, admin_password)
    except CRMError as exc:
        _fail(exc.message)
        return
    finally:
        inst.dispose()
    click.echo(f"created tenant '{name}' with user 'admin'")
    if admin_password is None:
        click.echo(f"admin password (shown once): {password}")


@tenant.command("list")
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False))
def tenant_list(instance_dir: str) -> None:
    """List the tenants of an instance."""
    inst = _open(instance_dir)
    for name in inst.tenant_names():
        click.echo(name)
    inst.dispose()


if __name__ == "__main__":  # pragma: no cover
    main()
