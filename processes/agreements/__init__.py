"""Employment agreements (ONL online signing, OFF offline signing with an e-agreement, PAP paper
registration, DOC-1 the e-agreement PDF): BPMN, forms, handlers, services, the graduate's and the
employer's pages, the assist link, the API."""
from __future__ import annotations

from pathlib import Path

from domain.modules import FormSpec, NavLink, ProcessModule, RecordPart, StartSpec

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    from . import api, assist, employer, handlers, openapi, pages, pdf

    def form(key: str, page=None, description: str = "", answer: bool = False, note=None,
             schema: dict | None = None) -> FormSpec:
        return FormSpec(key, api_complete=api.COMPLETERS.get(key), fields=api.FIELDS.get(key),
                        item_data=api.ITEM_DATA.get(key), graduate_page=page, description=description,
                        answer=answer, todo_note=note, completion_schema=schema or {})

    forms = (
        form("offline_agreement", pages.offline_form, "同 OfflineAgreement", schema=openapi.completions()),
        form("paper_agreement", pages.paper_form, "同 PaperAgreement"),
        form("stamped_upload", description="attachment_ids（盖章的就业协议书）", note=pages.stamped_note),
        form("invitation_answer", description="answer（accept / refuse）", answer=True, note=pages.invitation_note),
    )
    return ProcessModule(
        name="agreements",
        title="就业协议",
        bpmn_dir=HERE,
        process_ids=("online_signing", "offline_signing", "paper_registration"),
        starts=(StartSpec("offline_signing", "线下签约", "offline_agreement", api.start_offline,
                          schema="OfflineAgreement"),
                StartSpec("paper_registration", "已签就业协议登记", "paper_agreement", api.start_paper,
                          schema="PaperAgreement")),
        forms=forms,
        handlers=handlers.HANDLERS,
        hooks=(handlers.mirror_reviewer_edit,),
        batch_loaders=(handlers.preload_timer_batch,),
        senders=pdf.SENDERS,
        record=RecordPart(context=pages.record_context, template="agreements/_record.html",
                          actions=pages.graduate_actions, actions_template="agreements/_actions.html",
                          review_template="agreements/_review.html", review_context=pages.review_context,
                          edit_form=pages.edit_form, apply_edit=pages.apply_edit,
                          edit_template="agreements/_edit.html", field_labels=pages.EDIT_LABELS,
                          api_json=api.instance_extras),
        withdrawable=("offline_signing", "paper_registration"),
        blueprints=(pages.bp, employer.bp, assist.bp),
        api_blueprints=(api.bp,),
        openapi_paths=openapi.agreement_paths(),
        openapi_schemas=openapi.agreement_schemas(),
        home_template="agreements/_home.html",
        # issue 12: the credit-code disputes of employer registration, for those who decide them
        nav=(NavLink("统一社会信用代码争议", "employer.disputes", ("province", "admin"), element_id="nav-disputes"),),
    )
