"""The ``crmforge`` command line (DESIGN §9): init, serve, tenant create, user add,
backup, restore.

A business administrator reads its refusals and confirmations in Chinese or English:
``crmforge --lang zh ...``, else the locale of the environment (``LC_ALL``/``LANG`` of
``zh_*``: Chinese), else English. Refusals go through the API's message templates."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .composition import wire
from .core.errors import CRMError
from .runtime import Instance

#: Where the ``--lang`` chosen for a command is kept (``click.Context.meta``, shared by
#: every context of one command line).
LANG_KEY = "crmforge.lang"


def _lang() -> str:
    from .web.plain_translations import lang_of_environment

    ctx = click.get_current_context(silent=True)
    chosen = ctx.meta.get(LANG_KEY) if ctx is not None else None
    return str(chosen) if chosen else lang_of_environment()


# The web layer is imported when a message is written, not with this module: importing it
# starts its metrics, which ``serve --workers`` must point at a shared folder first.
def _t(msgid: str, **values: object) -> str:
    """An interface message of the command line in the chosen language."""
    from .web.plain_translations import gettext_in

    return gettext_in(_lang(), msgid, **values)


def message_in(lang: str, message: str) -> str:
    """A service's refusal in ``lang``, through the API's templates."""
    from .web.plain_translations import message_in as translate

    return translate(lang, message)


def _fail(message: str, details: list[str] | None = None, lines: list[str] | None = None
          ) -> None:
    """Print a refusal (its field ``details`` in brackets, or further ``lines``) in the
    chosen language and exit 2."""
    lang = _lang()
    text = message_in(lang, message)
    if details:
        text += " (" + "; ".join(message_in(lang, d) for d in details) + ")"
    text = "\n".join([text, *(lines or [])])
    click.echo(_t("error: %(message)s", message=text), err=True)
    sys.exit(2)


def _refused(exc: CRMError) -> None:
    """A refusal with the field messages its message does not already say."""
    _fail(exc.message, [m for msgs in exc.fields.values() for m in msgs
                        if m not in exc.message])


def _open(path: str) -> Instance:
    try:
        return wire(Instance.open(path))
    except CRMError as exc:
        _fail(exc.message)
        raise  # unreachable; keeps type checkers content


T = TypeVar("T")


def _with_instance(instance_dir: str, work: Callable[[Instance], T]) -> T:
    """Run ``work`` on the opened instance; a refusal is a plain message and exit 2, and
    the instance is closed whatever happens (its pending audit written)."""
    inst = _open(instance_dir)
    try:
        return work(inst)
    except CRMError as exc:
        _refused(exc)
        raise  # unreachable; keeps type checkers content
    finally:
        inst.dispose()


@click.group()
@click.version_option(package_name="crmforge")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None,
              help="Language of messages (default: zh when LC_ALL or LANG is zh_*, else en).")
@click.pass_context
def main(ctx: click.Context, lang: str | None) -> None:
    """CRMForge: a low-code CRM platform."""
    ctx.meta[LANG_KEY] = lang


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
        details = [m for msgs in exc.fields.values() for m in msgs]
        _fail(exc.message, details if "; ".join(details) not in exc.message else None)
        return
    inst.dispose()
    click.echo(_t("created instance %(path)s with tenant 'default' and user 'admin'",
                  path=Path(instance_dir).resolve()))


@main.command()
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (gunicorn); 1 serves from one process (waitress).")
@click.option("--timeout", default=600, show_default=True, type=click.IntRange(30, 86_400),
              help="Seconds a silent worker may take before it is restarted (workers > 1).")
@click.option("--jobs/--no-jobs", "run_jobs", default=True, show_default=True,
              help="Run background jobs here (off when 'crmforge worker' runs them).")
@click.option("--jobs-periodic/--no-jobs-periodic", "jobs_periodic", default=True,
              show_default=True, help="Also sweep abandoned jobs and run approval timers.")
def serve(instance_dir: str, host: str, port: int, workers: int, timeout: int,
          run_jobs: bool, jobs_periodic: bool) -> None:
    """Serve the web application and the REST API."""
    if workers > 1:
        from . import serving

        serving.prepare_metrics()  # before any metric exists in this process
    from . import tasks
    from .web import create_app
    from .web.observability import configure_logging

    configure_logging()
    inst = _open(instance_dir)
    try:
        app = create_app(inst)
    except ValueError as exc:  # a setting from the environment that does not parse
        _fail(str(exc))
        return
    queue = tasks.install(inst)
    worker = tasks.Worker(queue, periodic=jobs_periodic)

    def background() -> None:
        # Jobs, the sweep of abandoned ones and approval timers: once for this host (in
        # the master process when there are workers), unless a separate worker does it.
        if run_jobs:
            worker.start()

    click.echo(_t("CRMForge on http://%(host)s:%(port)s/  (API documentation: /api/v1/docs)",
                  host=host, port=port))
    try:
        if workers > 1:
            serving.run(instance_dir, host, port, workers, timeout, on_master_ready=background)
            return
        background()
        try:
            from waitress import serve as waitress_serve  # production-grade when installed
        except ImportError:
            app.run(host=host, port=port, threaded=True)
        else:
            waitress_serve(app, host=host, port=port, threads=8)
    finally:
        if run_jobs:
            worker.stop()
        inst.dispose()


@main.command()
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False))
@click.option("--threads", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--no-periodic", is_flag=True,
              help="Only run jobs: another worker sweeps and runs the approval timers.")
def worker(instance_dir: str, threads: int, no_periodic: bool) -> None:
    """Run background jobs (imports, backfills, approval timers) from the instance's queue
    (SQLite in the instance, or Redis with CRMFORGE_QUEUE_URL) until stopped."""
    import signal
    import threading

    from . import tasks
    from .web.observability import configure_logging

    configure_logging()
    inst = _open(instance_dir)
    queue = tasks.install(inst)
    consumer = tasks.Worker(queue, threads=threads, periodic=not no_periodic)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    consumer.start()
    click.echo(_t("CRMForge worker on the %(queue)s queue (%(threads)s threads)"
                  if no_periodic else
                  "CRMForge worker on the %(queue)s queue (%(threads)s threads, periodic work)",
                  queue=tasks.queue_kind(queue), threads=threads))
    try:
        stop.wait()
    finally:
        consumer.stop()
        inst.dispose()


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
    click.echo(_t("created tenant '%(name)s' with user 'admin'", name=name))
    if admin_password is None:
        click.echo(_t("admin password (shown once): %(password)s", password=password))


@tenant.command("list")
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False))
def tenant_list(instance_dir: str) -> None:
    """List the tenants of an instance."""
    inst = _open(instance_dir)
    for name in inst.tenant_names():
        click.echo(name)
    inst.dispose()


@tenant.command("reindex")
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False))
@click.option("--tenant", "tenant_name", default=None,
              help="Only this tenant (default: every tenant).")
def tenant_reindex(instance_dir: str, tenant_name: str | None) -> None:
    """Rebuild record indexes an earlier CRMForge shaped differently (list indexes now end
    with the scope columns); each tenant in one transaction."""
    from .runtime.storage.migrate import reshape_indexes

    def work(inst: Instance) -> dict[str, list[str]]:
        names = [tenant_name] if tenant_name else inst.tenant_names()
        done = {}
        for name in names:
            t = inst.tenant(name)
            with t.write() as conn:
                tables = t.schema(t.snapshot(conn)).tables.values()
                done[name] = reshape_indexes(conn, t.dialect, tables)
        return done

    for name, rebuilt in _with_instance(instance_dir, work).items():
        click.echo(_t("%(tenant)s: %(n)s indexes rebuilt", tenant=name, n=len(rebuilt)) +
                   (f" ({', '.join(rebuilt)})" if rebuilt else ""))


@main.group()
def user() -> None:
    """Manage a tenant's users (the designer's Users page does the same in a browser)."""


def _user_options(f: Any) -> Any:
    f = click.option("--tenant", "tenant_name", default="default", show_default=True)(f)
    return click.option("--instance", "instance_dir", required=True,
                        type=click.Path(file_okay=False))(f)


def _role_names(inst: Instance, tenant_name: str) -> list[str]:
    from .runtime import Designer

    return [str(r["name"]) for r in Designer(inst.tenant(tenant_name)).roles()]


@user.command("add")
@click.argument("username")
@_user_options
@click.option("--admin", "is_admin", is_flag=True, help="Make the user an administrator.")
@click.option("--password", default=None,
              help="The user's password; generated and shown once when omitted.")
def user_add(username: str, instance_dir: str, tenant_name: str, is_admin: bool,
             password: str | None) -> None:
    """Add a user to a tenant (checked and audited as the designer and the API do)."""
    import secrets

    from .security import people
    from .security.principal import SYSTEM

    chosen = password if password is not None else secrets.token_urlsafe(12) + "9!"

    def work(inst: Instance) -> None:
        known = _role_names(inst, tenant_name)
        with inst.tenant(tenant_name).write() as conn:
            people.add_user(conn, SYSTEM, {"username": username, "password": chosen,
                                           "is_admin": is_admin}, known)

    _with_instance(instance_dir, work)
    click.echo(_t("created user '%(user)s' in tenant '%(tenant)s' (administrator)" if is_admin
                  else "created user '%(user)s' in tenant '%(tenant)s'",
                  user=username, tenant=tenant_name))
    if password is None:
        click.echo(_t("password (shown once): %(password)s", password=chosen))


@user.command("reset-password")
@click.argument("username")
@_user_options
@click.option("--password", default=None,
              help="The new password; generated and shown once when omitted.")
def user_reset_password(username: str, instance_dir: str, tenant_name: str,
                        password: str | None) -> None:
    """Set a new password, unlock the account and end the user's sessions."""
    import secrets

    from .security import people
    from .security.principal import SYSTEM

    chosen = password if password is not None else secrets.token_urlsafe(12) + "9!"

    def work(inst: Instance) -> int:
        with inst.tenant(tenant_name).write() as conn:
            return people.reset_password(conn, SYSTEM, username, chosen)

    revoked = _with_instance(instance_dir, work)
    click.echo(_t("new password set for '%(user)s'; account unlocked, %(n)s sessions and "
                  "tokens ended", user=username, n=revoked))
    if password is None:
        click.echo(_t("password (shown once): %(password)s", password=chosen))


@user.command("list")
@_user_options
def user_list(instance_dir: str, tenant_name: str) -> None:
    """List a tenant's users: name, department, roles and state."""
    from .security import org

    def work(inst: Instance) -> list[dict[str, Any]]:
        with inst.tenant(tenant_name).read() as conn:
            return org.list_users(conn)

    for u in _with_instance(instance_dir, work):
        state = _t("inactive") if not u["active"] else _t("locked") if u["locked"] \
            else _t("active")
        click.echo("\t".join([u["username"], u["department"] or "-",
                              ",".join(u["roles"]) or "-",
                              state + (", " + _t("admin") if u["is_admin"] else "")]))


@main.command()
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False))
@click.option("--tenant", "tenant_name", default="default", show_default=True)
@click.option("--object", "object_name", default=None, help="Only this object.")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 100_000))
def backfill(instance_dir: str, tenant_name: str, object_name: str | None, batch: int) -> None:
    """Recompute every stored formula and roll-up, in batches (after an interrupted
    background backfill, or to check that stored values are current)."""
    from .runtime import backfill as fill

    inst = _open(instance_dir)
    try:
        t = inst.tenant(tenant_name)
        with t.read() as conn:
            jobs = fill.everything(t.snapshot(conn), object_name)
        progress = fill.run(t, jobs, batch=batch)
    except CRMError as exc:
        _fail(exc.message)
        return
    finally:
        inst.dispose()
    click.echo(_t("recomputed %(rows)s rows in %(batches)s batches; %(changed)s changed",
                  rows=progress.rows, batches=progress.batches, changed=progress.changed))


@main.command("backup")
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False))
@click.option("--tenant", "tenant_name", default=None,
              help="Only this tenant (default: the whole instance, secret key included).")
@click.option("--out", required=True, type=click.Path(),
              help="A new or empty folder for the backup.")
def backup_command(instance_dir: str, tenant_name: str | None, out: str) -> None:
    """Write a verified backup of the instance (or of one tenant) while it keeps serving."""
    from .runtime import backup as backups

    manifest = _with_instance(instance_dir,
                              lambda inst: backups.backup(inst, Path(out), tenant_name))
    for name, entry in sorted(manifest["tenants"].items()):
        click.echo(_t("%(tenant)s: %(rows)s rows in %(tables)s tables", tenant=name,
                      rows=sum(entry["tables"].values()), tables=len(entry["tables"])))
    click.echo(_t("backup written and verified: %(path)s", path=Path(out).resolve()))
    if tenant_name is None:
        click.echo(_t("it holds the instance's secret key: keep it as safe as the instance"))


@main.command("restore")
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False))
@click.option("--tenant", "tenant_name", default=None,
              help="Only this tenant (default: every tenant in the backup).")
@click.option("--from", "source", required=True, type=click.Path(file_okay=False),
              help="The backup folder.")
def restore_command(instance_dir: str, tenant_name: str | None, source: str) -> None:
    """Replace tenants' data with a backup's (stop the servers first)."""
    from .runtime import backup as backups

    restored = _with_instance(instance_dir,
                              lambda inst: backups.restore(inst, Path(source), tenant_name))
    for name, tables in sorted(restored.items()):
        click.echo(_t("restored tenant '%(tenant)s': %(rows)s rows in %(tables)s tables, "
                      "verified", tenant=name, rows=sum(tables.values()), tables=len(tables)))


@main.group()
def history() -> None:
    """Record history: retention."""


@history.command("prune")
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False))
@click.option("--tenant", "tenant_name", default=None, help="Only this tenant (default: all).")
@click.option("--older-than-days", "days", default=None, type=click.IntRange(1, 1_000_000),
              help="Retention period (default: CRMFORGE_HISTORY_RETENTION_DAYS).")
def history_prune(instance_dir: str, tenant_name: str | None, days: int | None) -> None:
    """Delete history entries older than the retention period, in short batches."""
    from .runtime import retention

    inst = _open(instance_dir)
    try:
        period = days if days is not None else retention.retention_days()
        if period is None:
            _fail("no retention period: pass --older-than-days or set "
                  "CRMFORGE_HISTORY_RETENTION_DAYS")
            return
        names = [tenant_name] if tenant_name else inst.tenant_names()
        for name in names:
            count = retention.prune(inst.tenant(name), period)
            click.echo(_t("%(tenant)s: deleted %(n)s history entries older than %(days)s days",
                          tenant=name, n=count, days=period))
    except CRMError as exc:
        _fail(exc.message)
    finally:
        inst.dispose()


@main.group()
def files() -> None:
    """Stored files: clean-up."""


@files.command("prune")
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False))
@click.option("--tenant", "tenant_name", default=None, help="Only this tenant (default: all).")
@click.option("--uploads-older-than-hours", "hours", default=24, show_default=True,
              type=click.IntRange(1, 1_000_000), help="Delete uploads no field took by then.")
@click.option("--removed-older-than-days", "days", default=None,
              type=click.IntRange(1, 1_000_000),
              help="Delete removed files older than this (default: "
                   "CRMFORGE_FILES_RETENTION_DAYS; unset: keep them until purged).")
def files_prune(instance_dir: str, tenant_name: str | None, hours: int, days: int | None) -> None:
    """Delete uploads never attached to a record, and removed files past retention."""
    from .runtime.files import retention as file_retention

    inst = _open(instance_dir)
    try:
        period = days if days is not None else file_retention.retention_days()
        names = [tenant_name] if tenant_name else inst.tenant_names()
        for name in names:
            uploads, removed = file_retention.prune(inst.tenant(name), uploads_hours=hours,
                                                    removed_days=period)
            click.echo(_t("%(tenant)s: deleted %(n)s unattached uploads older than %(hours)s "
                          "hours", tenant=name, n=uploads, hours=hours) if period is None else
                       _t("%(tenant)s: deleted %(n)s unattached uploads older than %(hours)s "
                          "hours and %(removed)s removed files older than %(days)s days",
                          tenant=name, n=uploads, hours=hours, removed=removed, days=period))
    except CRMError as exc:
        _fail(exc.message)
    finally:
        inst.dispose()


# -- packs (DESIGN §8) -------------------------------------------------------------------------
@main.group()
def pack() -> None:
    """Install, upgrade, uninstall, list and export industry packs."""


def _pack_options(f: Any) -> Any:
    f = click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")(f)
    f = click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")(f)
    f = click.option("--tenant", "tenant_name", default="default", show_default=True)(f)
    return click.option("--instance", "instance_dir", required=True,
                        type=click.Path(file_okay=False))(f)


def _installer(inst: Instance, instance_dir: str, tenant_name: str) -> Any:
    from .installer import Installer
    from .security.accounts import principal_of

    tenant = inst.tenant(tenant_name)
    with tenant.read() as conn:
        admin = principal_of(conn, "admin")
    return Installer(tenant, admin, Path(instance_dir))


def _run_pack(instance_dir: str, tenant_name: str, as_json: bool, work: Any) -> None:
    inst = _open(instance_dir)
    try:
        plan = work(_installer(inst, instance_dir, tenant_name))
    except CRMError as exc:
        lang = _lang()
        details = [f"  {k}: {message_in(lang, m)}" for k, msgs in exc.fields.items()
                   for m in msgs]
        _fail(exc.message, lines=details[:50])
        return
    finally:
        inst.dispose()
    if as_json:
        click.echo(json.dumps(plan.to_json(), ensure_ascii=False, indent=2))
        return
    head = _t("would") if not plan.applied else _t("did")
    click.echo(f"{plan.action} {plan.pack} {plan.version or ''}".rstrip()
               + (_t(" (from %(version)s)", version=plan.from_version)
                  if plan.from_version else "")
               + ("" if plan.applied else _t("  [dry run: nothing changed]")))
    for step in plan.steps:
        click.echo(f"  {head}: {step}")
    ddl = [_ddl(c) for change in plan.metadata for c in change["changes"]]
    if ddl:
        click.echo(_t("  schema changes (%(n)s):", n=len(ddl)))
        for line in ddl:
            click.echo(f"    {line}")
    if plan.records:
        click.echo(_t("  records: %(counts)s",
                      counts=", ".join(f"{n} {o}" for o, n in plan.records.items())))
    for c in plan.conflicts:
        click.echo(_t("  conflict: %(message)s", message=message_in(_lang(), c["message"])))
    if plan.sample_users and plan.applied:
        click.echo(_t("  sample users: %(users)s", users=", ".join(plan.sample_users)))
        click.echo(_t("  their password (shown only this once): %(password)s",
                      password=plan.sample_password))


def _ddl(change: dict[str, Any]) -> str:
    """One schema change of a plan as a line: ``add_column obj_account.region``."""
    where = change.get("table", "")
    if change.get("column"):
        where += "." + change["column"]
    if change.get("new_table") or change.get("new_column"):
        where += " -> " + str(change.get("new_table") or change.get("new_column"))
    if change.get("to_type"):
        where += f" ({change.get('from_type')} -> {change['to_type']})"
    return f"{change.get('kind', '?')} {where}"


@pack.command("install")
@click.argument("ref")
@_pack_options
@click.option("--sample-users", is_flag=True,
              help="Also make the pack's sample organisation: departments and users in its "
                   "roles owning the sample records, sharing one password shown once.")
def pack_install(ref: str, instance_dir: str, tenant_name: str, dry_run: bool,
                 as_json: bool, sample_users: bool) -> None:
    """Install the pack REF (a name or a folder) on a tenant: all or nothing."""
    _run_pack(instance_dir, tenant_name, as_json,
              lambda i: i.install(ref, dry_run=dry_run, sample_users=sample_users))


@pack.command("upgrade")
@click.argument("ref")
@_pack_options
@click.option("--on-conflict", type=click.Choice(["report", "pack", "tenant"]), default="report",
              show_default=True, help="Where the pack and the tenant changed the same thing: "
              "refuse and report, or take one side.")
def pack_upgrade(ref: str, instance_dir: str, tenant_name: str, dry_run: bool, as_json: bool,
                 on_conflict: str) -> None:
    """Upgrade an installed pack, keeping the tenant's own changes."""
    _run_pack(instance_dir, tenant_name, as_json,
              lambda i: i.upgrade(ref, dry_run=dry_run, on_conflict=on_conflict))


@pack.command("uninstall")
@click.argument("name")
@_pack_options
def pack_uninstall(name: str, instance_dir: str, tenant_name: str, dry_run: bool,
                   as_json: bool) -> None:
    """Uninstall a pack; its objects and records go to the recycle bin."""
    _run_pack(instance_dir, tenant_name, as_json, lambda i: i.uninstall(name, dry_run=dry_run))


@pack.command("list")
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False))
@click.option("--tenant", "tenant_name", default="default", show_default=True)
@click.option("--available", is_flag=True, help="List the packs that can be installed instead.")
def pack_list(instance_dir: str, tenant_name: str, available: bool) -> None:
    """List the packs installed on a tenant (or available to install)."""
    from .installer import available as available_packs

    inst = _open(instance_dir)
    try:
        if available:
            for p in available_packs(Path(instance_dir)):
                label = p.manifest["label"].get(_lang()) or p.manifest["label"]["en"]
                click.echo(f"{p.name}\t{p.version}\t{label}\t{p.path}")
            return
        for row in _installer(inst, instance_dir, tenant_name).installed():
            label = row["label"].get(_lang()) or row["label"].get("en", "")
            click.echo(f"{row['name']}\t{row['version']}\t{label}\t"
                       + _t("installed %(when)s by %(who)s", when=row["installed_at"],
                            who=row["installed_by"]))
    except CRMError as exc:
        _fail(exc.message)
    finally:
        inst.dispose()


@pack.command("export")
@click.argument("name")
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False))
@click.option("--tenant", "tenant_name", default="default", show_default=True)
@click.option("--out", required=True, type=click.Path(), help="A new or empty folder.")
@click.option("--version", "pack_version", default="1.0.0", show_default=True)
@click.option("--label-en", default=None)
@click.option("--label-zh", default=None)
@click.option("--object", "objects", multiple=True, help="Export only these objects.")
def pack_export(name: str, instance_dir: str, tenant_name: str, out: str, pack_version: str,
                label_en: str | None, label_zh: str | None, objects: tuple[str, ...]) -> None:
    """Write a tenant's objects, roles, layouts and dashboards as the pack NAME."""
    from .installer import export_pack

    inst = _open(instance_dir)
    manifest = {"name": name, "version": pack_version,
                "label": {"en": label_en or name, "zh": label_zh or label_en or name}}
    try:
        path = export_pack(inst.tenant(tenant_name), out, manifest, objects or None)
    except CRMError as exc:
        _fail(exc.message)
        return
    finally:
        inst.dispose()
    click.echo(_t("exported pack %(name)s %(version)s to %(path)s", name=name,
                  version=pack_version, path=path))


if __name__ == "__main__":  # pragma: no cover
    main()
