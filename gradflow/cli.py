"""`gradflow` command: migrate, seed, deploy processes, serve, worker, beat."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from datetime import timedelta
from pathlib import Path

from core.config import ROOT, ConfigError, load_settings


def migrate(database_url: str | None = None) -> None:
    from alembic.config import Config

    from alembic import command

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    if database_url:
        # the ini's interpolation reads "%" as its own syntax: a percent-encoded password or socket path doubles it
        cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(cfg, "head")


def _runtime():
    from gradflow.runtime import build_runtime

    return build_runtime()


def cmd_migrate(_args) -> None:
    settings = load_settings()
    migrate(settings.database_url)
    print(f"数据库已迁移到最新版本：{settings.database_url.split('@')[-1]}")


def cmd_seed(_args) -> None:
    from domain.seed import seed_demo

    rt = _runtime()
    with rt.Session() as session:
        created = seed_demo(session)
        session.commit()
    print("已写入演示数据" if created else "演示数据已存在")


def cmd_deploy(_args) -> None:
    rt = _runtime()
    rows = rt.deploy()
    for row in rows:
        print(f"新版本 {row.process_id} #{row.id} {row.content_hash[:12]}")
    print(f"流程已部署（新版本 {len(rows)} 个）")


def cmd_processes(args) -> None:
    """`gradflow processes validate|deploy|test`: the process designer's checks before and after a deploy."""
    from domain.modules import ModuleRegistry
    from engine.specs import SpecRegistry
    from engine.validate import check_files, errors
    from gradflow import scenarios
    from gradflow.runtime import load_modules

    logging.getLogger("spiff").setLevel(logging.WARNING)  # one line per task state change otherwise
    modules = load_modules(load_settings().extra_modules)
    registry = ModuleRegistry(modules)
    if args.action in ("validate", "deploy"):
        from domain import notify

        handlers = set(registry.extensions().handlers) | set(notify.SENDERS)
        # SpiffWorkflow parsing, our rules, then bpmnlint (recommended + gradflow's rules, .bpmnlintrc)
        bpmn_files = SpecRegistry(registry.bpmn_dirs()).read_files()
        for given in args.process if args.action == "validate" else []:
            # a designer's edited copy is checked with the shipped files it calls (same name: it replaces one)
            path = Path(given)
            for bpmn in sorted(path.rglob("*.bpmn")) if path.is_dir() else [path]:
                bpmn_files[bpmn.name] = bpmn.read_text(encoding="utf-8")
        problems = check_files(bpmn_files, handlers)
        for problem in problems:
            print(problem)
        failed = errors(problems)
        if failed:
            print(f"校验未通过：{len(failed)} 个问题", file=sys.stderr)
            sys.exit(1)
        warned = len(problems) - len(failed)
        print("流程文件校验通过" + (f"（{warned} 个警告）" if warned else ""))
        if args.action == "deploy":
            cmd_deploy(args)
        return
    files = scenarios.find_files(registry.bpmn_dirs())
    if args.process:
        files = [f for f in files if any(f.name.startswith(p) for p in args.process)]
    outcomes = scenarios.run_files(files, modules)
    print(scenarios.table(outcomes))
    if not outcomes or not all(o.passed for o in outcomes):
        sys.exit(1)


def cmd_rebuild_statistics(_args) -> None:
    """Recount PRV-2's counters from the data (after a bulk load that bypassed the ORM, or a new deployment)."""
    from domain.access import POLICY
    from domain.statistics import rebuild_statistics

    rt = _runtime()
    with rt.Session() as session:
        counted = rebuild_statistics(session, dict(POLICY.areas))
        session.commit()
    print(f"统计已重建：{counted} 名毕业生")


def cmd_storage(args) -> None:
    """Files behind the storage port (issue 11): move inline bytes of older rows out, or sweep orphans."""
    from domain import attachments, blobs

    rt = _runtime()
    with rt.Session() as session:
        if args.action == "move":
            print(f"已移入文件存储：{blobs.move_inline(session)} 行")
            return
        images = attachments.sweep_unused(session, older_than=timedelta(hours=args.min_age_hours),
                                          dry_run=args.dry_run)
        orphans = blobs.sweep(session, min_age_seconds=args.min_age_hours * 3600, dry_run=args.dry_run)
        done = "将删除" if args.dry_run else "已删除"
        print(f"{done}无表单使用的上传图片：{images} 张")
        print(f"{done}无记录引用的文件：{len(orphans)} 个")


def _scheduler(stop: threading.Event, interval: int) -> None:
    """Embedded default: fire timers and deliver the outbox in-process; sweep unused uploads every 6 hours."""
    from gradflow.celery_app import deliver_outbox_task, fire_due_timers_task, sweep_storage_task

    ticks, sweep_every = 0, max(1, 6 * 3600 // max(1, interval))
    while not stop.wait(interval):
        try:
            fire_due_timers_task.apply()
            deliver_outbox_task.apply()
            ticks += 1
            if ticks % sweep_every == 0:
                sweep_storage_task.apply()
        except Exception:  # noqa: BLE001 - keep the scheduler alive
            logging.getLogger(__name__).exception("scheduler tick failed")


def cmd_run(args) -> None:
    settings = load_settings()
    migrate(settings.database_url)
    cmd_seed(args)
    from webapp import create_app

    rt = _runtime()
    rt.deploy()
    app = create_app(rt)
    stop = threading.Event()
    if settings.celery_eager:
        threading.Thread(target=_scheduler, args=(stop, settings.timer_poll_seconds), daemon=True).start()
    print(f"gradflow 已启动：http://{args.host}:{args.port}  （演示账号见 README）")
    try:
        app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    finally:
        stop.set()


def cmd_worker(args) -> None:
    from gradflow.celery_app import ALL_QUEUES, app

    known = ALL_QUEUES.split(",")
    asked = [q.strip() for q in (args.queues or ALL_QUEUES).split(",") if q.strip()]
    unknown = [q for q in asked if q not in known]
    if not asked or unknown:  # a typo would consume a queue nobody sends to, silently
        sys.exit(f"未知的队列：{'，'.join(unknown) or '（空）'}；可用的队列：{'，'.join(known)}")
    if args.nice:
        os.nice(args.nice)  # its pool processes inherit it: the machine's steps go first, renders take what is left
    argv = ["worker", "--loglevel=INFO", f"--concurrency={args.concurrency}", "--pool=prefork",
            f"--queues={','.join(asked)}"]
    if args.name:
        argv.append(f"--hostname={args.name}")
    app.worker_main(argv)


def cmd_beat(_args) -> None:
    from gradflow.celery_app import app

    var = load_settings().var_dir
    var.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "--loglevel=INFO", f"--schedule={Path(var) / 'celerybeat-schedule'}"])


def cmd_sync_receiver(args) -> None:
    """PRV-3: the reference receiver of the data sync (a stand-in for 就业管理系统, tests and demos)."""
    from processes.sync.receiver import serve

    db = Path(args.db) if args.db else load_settings().var_dir / "sync-receiver.sqlite3"
    serve(args.host, args.port, db, fail_first=args.fail_first, delay=args.delay)


def cmd_instances(args) -> None:
    """`gradflow instances migrate`: move live instances to a newer version of their process (issue 10)."""
    import getpass

    from engine.migration import migrate_process
    from engine.services import Actor

    rt = _runtime()
    actor = Actor(id=None, name=f"命令行管理员（{getpass.getuser()}）", role="Admin")
    results = migrate_process(rt.runner, rt.Session, args.process, args.to_version, actor, args.reason,
                              dry_run=args.dry_run)
    for r in results:
        what = "已迁移" if r.moved else ("可以迁移" if r.movable else "不能迁移")
        print(f"#{r.instance_id}\t{what}\t{'；'.join(r.reasons) or '、'.join(r.keeps)}")
    movable = sum(1 for r in results if r.movable)
    print(f"{'试运行：未做任何改动。' if args.dry_run else ''}共 {len(results)} 个实例，"
          f"{'可迁移' if args.dry_run else '已迁移'} {sum(1 for r in results if r.moved) if not args.dry_run else movable} 个")


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="gradflow", description="毕业去向登记与网上签约平台")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="运行数据库迁移").set_defaults(fn=cmd_migrate)
    sub.add_parser("seed", help="写入演示数据").set_defaults(fn=cmd_seed)
    sub.add_parser("deploy", help="部署 processes/ 中的流程").set_defaults(fn=cmd_deploy)
    run = sub.add_parser("run", help="迁移、写入演示数据并启动网站（内嵌模式）")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=5000)
    run.set_defaults(fn=cmd_run)
    worker = sub.add_parser("worker", help="启动 Celery worker")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--queues", default=None,
                        help="要消费的队列（逗号分隔，默认全部：celery,outbox,timers,documents）；生产环境另起一个只消费 timers 的 worker，定时器不排在投递之后")
    worker.add_argument("--nice", type=int, default=0,
                        help="以较低的 CPU 优先级运行（例如只消费 documents 的 worker 与 Web 同机时用 --nice 10）")
    worker.add_argument("--name", default=None, help="worker 节点名（同一台机器上多个 worker 时使用，例如 timers@%%h）")
    worker.set_defaults(fn=cmd_worker)
    sub.add_parser("beat", help="启动 Celery beat（定时器与发件箱）").set_defaults(fn=cmd_beat)
    recv = sub.add_parser("sync-receiver", help="数据同步的参考接收端（测试与演示用）：按 Idempotency-Key 去重保存")
    recv.add_argument("--host", default="127.0.0.1")
    recv.add_argument("--port", type=int, default=8765, help="0：任选一个空闲端口（启动时打印）")
    recv.add_argument("--db", default="", help="保存收到数据的 SQLite 文件（默认 var/sync-receiver.sqlite3）")
    recv.add_argument("--fail-first", type=int, default=0, help="前 N 个请求返回 503")
    recv.add_argument("--delay", type=float, default=0.0, help="保存后等待的秒数（模拟慢速接收端）")
    recv.set_defaults(fn=cmd_sync_receiver)
    sub.add_parser("rebuild-statistics", help="按现有数据重建数据统计计数（PRV-2）").set_defaults(fn=cmd_rebuild_statistics)
    storage = sub.add_parser("storage", help="文件存储：把旧行中的文件移入存储（move），删除无表单使用的上传图片和无引用的文件（sweep）")
    storage.add_argument("action", choices=["move", "sweep"])
    storage.add_argument("--min-age-hours", type=float, default=24.0, help="sweep 只删除早于这么多小时上传或写入的图片和文件")
    storage.add_argument("--dry-run", action="store_true", help="sweep 只列出，不删除")
    storage.set_defaults(fn=cmd_storage)
    procs = sub.add_parser("processes", help="流程设计：校验（validate）、校验后部署（deploy）、运行场景测试（test）")
    procs.add_argument("action", choices=["validate", "deploy", "test"])
    procs.add_argument("process", nargs="*",
                       help="test：只运行这些流程的场景文件（文件名前缀）；validate：再校验这些 BPMN 文件或目录（同名替换）")
    procs.set_defaults(fn=cmd_processes)
    inst = sub.add_parser("instances", help="流程实例：迁移到流程的新版本（migrate）")
    inst.add_argument("action", choices=["migrate"])
    inst.add_argument("--process", required=True, help="流程 ID，如 online_signing")
    inst.add_argument("--to-version", type=int, required=True, help="目标版本序号（1 为最早部署的版本）")
    inst.add_argument("--reason", default="命令行迁移", help="记入审计的原因")
    inst.add_argument("--dry-run", action="store_true", help="只列出能否迁移及原因，不做任何改动")
    inst.set_defaults(fn=cmd_instances)
    args = parser.parse_args(argv)
    try:
        args.fn(args)
    except ConfigError as exc:
        print(f"配置错误：{exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
