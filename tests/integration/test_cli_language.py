"""The command line speaks the administrator's language: ``--lang zh``, or a ``zh_*``
locale in ``LC_ALL``/``LANG``, gives Chinese refusals and confirmations; nothing (or an
English locale) gives the English the command always wrote."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner, Result

from crmforge.cli import main
from crmforge.web.plain_translations import lang_of_environment

CJK = re.compile(r"[\u4e00-\u9fff]")
NO_LOCALE: dict[str, str | None] = {"LC_ALL": None, "LC_MESSAGES": None, "LANG": None,
                                    "CRMFORGE_DATABASE_URL": None}


def _run(*args: str, **env: str) -> Result:
    return CliRunner().invoke(main, list(args), env={**NO_LOCALE, **env})


def test_the_locale_of_the_environment_chooses_the_language() -> None:
    assert lang_of_environment({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert lang_of_environment({"LANG": "zh_TW"}) == "zh"
    assert lang_of_environment({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}) == "en"
    assert lang_of_environment({"LC_ALL": "", "LC_MESSAGES": "zh_CN", "LANG": "C"}) == "zh"
    assert lang_of_environment({"LANG": "C.UTF-8"}) == "en"
    assert lang_of_environment({}) == "en"


def test_user_tenant_and_pack_commands_in_chinese(tmp_path: Path) -> None:
    inst = str(tmp_path / "inst")
    made = _run("--lang", "zh", "init", "--instance", inst, "--admin-password", "Very-good-1")
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith("已创建实例 ")
    weak = _run("--lang", "zh", "user", "add", "weak", "--instance", inst,
                "--password", "short1")
    assert weak.exit_code == 2
    assert weak.stderr.startswith("错误：密码") and not re.search(r"[a-z]{4}", weak.stderr), \
        weak.stderr
    ok = _run("user", "add", "carol", "--instance", inst, "--admin", LANG="zh_CN.UTF-8")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("已在租户“default”中创建用户“carol”（管理员）")
    assert "密码（只显示这一次）：" in ok.stdout
    listed = _run("--lang", "zh", "user", "list", "--instance", inst).stdout.splitlines()
    assert listed[1].endswith("\t在职, 管理员"), listed
    tenant = _run("--lang", "zh", "tenant", "create", "acme", "--instance", inst,
                  "--admin-password", "Acme-pass-1")
    assert tenant.stdout == "已创建租户“acme”及用户“admin”\n", tenant.output
    again = _run("--lang", "zh", "tenant", "create", "acme", "--instance", inst)
    assert again.exit_code == 2 and again.stderr == "错误：租户“acme”已存在\n", again.stderr
    missing = _run("--lang", "zh", "pack", "install", "nothing", "--instance", inst)
    assert missing.exit_code == 2
    assert missing.stderr.startswith("错误：没有名为“nothing”的扩展包"), missing.stderr
    plan = _run("--lang", "zh", "pack", "install", "core", "--instance", inst, "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert "[试运行：没有做任何修改]" in plan.stdout and "将会" in plan.stdout


def test_english_by_default_and_for_an_english_locale(tmp_path: Path) -> None:
    inst = str(tmp_path / "inst")
    assert _run("init", "--instance", inst, "--admin-password", "Very-good-1").exit_code == 0
    for env in ({}, {"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}):
        again = _run("tenant", "create", "default", "--instance", inst, **env)
        assert again.stderr == "error: tenant 'default' already exists\n", again.stderr
        weak = _run("user", "add", "weak", "--instance", inst, "--password", "short1", **env)
        assert weak.stderr.startswith("error: the password must have at least"), weak.stderr
        assert not CJK.search(weak.stderr)
    ok = _run("--lang", "en", "user", "add", "carol", "--instance", inst,
              "--password", "Carol-pass-1", LANG="zh_CN.UTF-8")
    assert ok.stdout == "created user 'carol' in tenant 'default'\n", ok.output


def test_operations_commands_confirm_in_chinese(tmp_path: Path) -> None:
    """Backup, restore and the prunes say what they did in the chosen language, numbers
    and paths in place."""
    inst, out = str(tmp_path / "inst"), tmp_path / "backup"
    assert _run("init", "--instance", inst, "--admin-password", "Very-good-1").exit_code == 0
    made = _run("--lang", "zh", "backup", "--instance", inst, "--out", str(out))
    assert made.exit_code == 0, made.output
    lines = made.stdout.splitlines()
    assert re.fullmatch(r"default：\d+ 张表，共 \d+ 行", lines[0]), lines
    assert lines[1] == f"备份已写入并校验：{out.resolve()}"
    assert lines[2] == "备份中含有实例的密钥：请像保管实例一样妥善保管它"
    back = _run("--lang", "zh", "restore", "--instance", inst, "--from", str(out))
    assert back.exit_code == 0, back.output
    assert re.fullmatch(r"已恢复租户“default”：\d+ 张表，共 \d+ 行，已校验\n", back.stdout)
    refused = _run("--lang", "zh", "history", "prune", "--instance", inst,
                   CRMFORGE_HISTORY_RETENTION_DAYS="")
    assert refused.exit_code == 2
    assert refused.stderr == ("错误：没有保留期限：请传入 --older-than-days 或设置 "
                              "CRMFORGE_HISTORY_RETENTION_DAYS\n"), refused.stderr
    pruned = _run("--lang", "zh", "history", "prune", "--instance", inst,
                  "--older-than-days", "30")
    assert pruned.stdout == "default：已删除 0 条超过 30 天的历史记录\n", pruned.output
    files = _run("--lang", "zh", "files", "prune", "--instance", inst,
                 "--removed-older-than-days", "7")
    assert files.stdout == ("default：已删除 0 个超过 24 小时未关联的上传文件，以及 0 个移除"
                            "超过 7 天的文件\n"), files.output
    # English stays as it was.
    english = _run("history", "prune", "--instance", inst, "--older-than-days", "30")
    assert english.stdout == "default: deleted 0 history entries older than 30 days\n"
