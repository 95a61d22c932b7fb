"""Terminations of an agreement (TRM online: the other party answers; OFT offline: with the termination
letter), on the shared review: BPMN, forms, handlers, services, pages and API."""
from __future__ import annotations

from pathlib import Path

from domain.modules import FormSpec, ProcessModule, RecordPart

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    from . import api, employer, handlers, pages

    return ProcessModule(
        name="terminations",
        title="解约",
        bpmn_dir=HERE,
        process_ids=("online_termination", "offline_termination"),
        forms=(
            FormSpec("termination_letter", api_complete=api.COMPLETERS["termination_letter"],
                     fields=api.FIELDS["termination_letter"], graduate_page=pages.letter_form,
                     completion_schema={**api.TERMINATION, "attachment_ids": api.IDS},
                     description="reason/explanation/attachment_ids（解约函）"),
            FormSpec("termination_answer", api_complete=api.COMPLETERS["termination_answer"],
                     fields=api.FIELDS["termination_answer"], item_data=api.ITEM_DATA["termination_answer"],
                     description="answer（accept / refuse）", answer=True,
                     todo_note=lambda db, item: "对方申请解除就业协议，请接受或拒绝"),
        ),
        handlers=handlers.HANDLERS,
        record=RecordPart(context=pages.record_context, template="agreements/_record.html",
                          actions=pages.graduate_actions, actions_template="terminations/_actions.html",
                          review_template="agreements/_review.html", review_context=pages.review_context,
                          api_json=api.instance_extras),
        withdrawable=("offline_termination",),
        blueprints=(pages.bp, employer.bp),
        api_blueprints=(api.bp,),
        openapi_paths=api.PATHS,
        openapi_schemas=api.SCHEMAS,
        # 申请解约 on the record of a signed agreement
        record_extras=pages.terminate_extras,
        record_extras_template="terminations/_terminate.html",
    )
