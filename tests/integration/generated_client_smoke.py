"""What an integrator does first with a client generated from a tenant's document, run by
``test_generated_clients.py`` in a process of its own (the generated package is imported
from the folder it was written to):

    python generated_client_smoke.py PACKAGE_PARENT BASE_URL TENANT PASSWORD

Signs in with a password, makes an API key and goes on with the key alone: creates a
pharma ``hospital`` record, finds it with a filter, updates it with its version (and is
refused with a stale one), reads its history and deletes it. Every step is checked; the
last line is ``smoke: ok`` when all held."""

from __future__ import annotations

import sys
from typing import Any


def main(parent: str, base_url: str, tenant: str, password: str) -> None:
    sys.path.insert(0, parent)
    # The generated package exists only once the generator ran.
    from crmforge_client import AuthenticatedClient, Client
    from crmforge_client.api.auth import create_api_key, sign_in
    from crmforge_client.api.hospital_records import (
        create_hospital_record,
        delete_hospital_record,
        get_hospital_record,
        get_hospital_record_history,
        list_hospital_records,
        update_hospital_record,
    )
    from crmforge_client.models import (
        CreateApiKeyBody,
        Error,
        HistoryEntryAction,
        HistoryList,
        HospitalRecord,
        HospitalRecordInput,
        HospitalRecordKindChoice,
        HospitalRecordList,
        HospitalRecordPatch,
        SignInBody,
    )

    def check(ok: Any, what: str) -> None:
        if not ok:
            raise SystemExit(f"smoke: {what}")
        print(f"smoke: {what}: ok")

    # The tenant as the generated header parameter, then on the client for every call.
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    token = sign_in.sync(client=anonymous, x_tenant=tenant,
                         body=SignInBody(username="admin", password=password))
    check(token is not None and not isinstance(token, Error) and token.token,
          "sign in with a password")
    assert token is not None and not isinstance(token, Error)
    person = AuthenticatedClient(base_url=base_url, token=str(token.token),
                                 headers={"X-Tenant": tenant})
    made = create_api_key.sync(client=person, body=CreateApiKeyBody(name="generated client"))
    check(made is not None and not isinstance(made, Error) and str(made.key).startswith("crmk_"),
          "make an API key")
    assert made is not None and not isinstance(made, Error)
    key = AuthenticatedClient(base_url=base_url, token=str(made.key),
                              headers={"X-Tenant": tenant})

    created = create_hospital_record.sync(client=key, body=HospitalRecordInput(
        name="Generated Client Pharmacy", kind=HospitalRecordKindChoice.PHARMACY,
        city="Hangzhou"))
    check(isinstance(created, HospitalRecord) and created.version == 1
          and created.kind == HospitalRecordKindChoice.PHARMACY, "create with the key")
    assert isinstance(created, HospitalRecord)
    rid = created.id

    found = list_hospital_records.sync(client=key, name="Generated Client Pharmacy",
                                       kind="pharmacy")
    check(isinstance(found, HospitalRecordList) and [r.id for r in found.items] == [rid]
          and found.next_cursor is None, "list with a filter")

    updated = update_hospital_record.sync(id=rid, client=key, body=HospitalRecordPatch(
        city="Shanghai", version=created.version))
    check(isinstance(updated, HospitalRecord) and updated.version == 2
          and updated.city == "Shanghai", "update with the version read")
    stale = update_hospital_record.sync_detailed(id=rid, client=key, body=HospitalRecordPatch(
        city="Suzhou", version=created.version))
    check(stale.status_code == 409 and isinstance(stale.parsed, Error)
          and stale.parsed.error.code == "conflict", "a stale version is refused")

    history = get_hospital_record_history.sync(id=rid, client=key)
    check(isinstance(history, HistoryList), "read the history")
    assert isinstance(history, HistoryList)
    actions = {e.action for e in history.items}
    check({HistoryEntryAction.CREATE, HistoryEntryAction.UPDATE} <= actions,
          "history has the create and the update")
    city = [(e.old, e.new) for e in history.items
            if e.action == HistoryEntryAction.UPDATE and e.field == "city"]
    check(city == [("Hangzhou", "Shanghai")], "history has the changed value")

    gone = delete_hospital_record.sync_detailed(id=rid, client=key)
    check(gone.status_code == 204, "delete")
    check(get_hospital_record.sync_detailed(id=rid, client=key).status_code == 404,
          "a deleted record is not found")
    print("smoke: ok")


if __name__ == "__main__":
    main(*sys.argv[1:5])
