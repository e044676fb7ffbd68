"""The alias sync and an apply, interleaved deterministically in both orders:
no false out-of-band event, the mirror shows the new version, and the time in
staging counts from the apply's own alias move."""

from unittest import mock

from core import registry
from governance.choices import AuditKind, RequestStatus
from governance.models import AuditEvent
from governance.selectors import model_aliases, staging_segments
from governance.services import apply as apply_service
from governance.services.apply import promotion_apply
from governance.services.approvals import promotion_approve
from governance.services.reconcile import registry_model_reconcile


def _approved_staging_request(name, version, people, open_request, commits):
    """A staging request approved, its apply not run yet (tasks captured)."""
    request = open_request(name, version, "staging")
    with mock.patch("governance.services.approvals._enqueue_apply"):
        promotion_approve(request_id=request.pk, user=people.bob)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    return request


def _assert_consistent(name, request):
    request.refresh_from_db()
    assert request.status == RequestStatus.APPLIED, request.apply_error
    assert not AuditEvent.objects.filter(
        kind=AuditKind.ALIAS_OUT_OF_BAND, model_name=name
    ).exists()
    assert model_aliases(name=name)["staging"] == 2
    moved = AuditEvent.objects.get(
        kind=AuditKind.ALIAS_MOVED, model_name=name, alias="staging", version=2
    )
    assert staging_segments(model_name=name, version=2) == [(moved.created_at, None)]
    # and the next reconciliation still finds nothing to report
    _changes, findings = registry_model_reconcile(name=name)
    assert findings == []


def test_sync_reads_mlflow_then_the_apply_finishes_before_it_compares(
    people, model_factory, in_staging, open_request, commits
):
    # given v1 at @staging and an approved request to put v2 there
    name = model_factory(versions=2)
    in_staging(name, 1)
    request = _approved_staging_request(name, 2, people, open_request, commits)
    real_model_get = registry.model_get
    calls = []

    def read_then_apply(model_name):
        remote = real_model_get(model_name)  # @staging → v1
        if not calls:
            # the whole apply runs between the sync's read and its comparison
            promotion_apply(request_id=request.pk)
        calls.append(dict(remote.aliases))
        return remote

    # when the sync reads MLflow before the apply and compares after it
    with mock.patch.object(registry, "model_get", side_effect=read_then_apply):
        _changes, findings = registry_model_reconcile(name=name)
    # then it saw the apply's move, not a change made outside Modelgate
    assert calls[0]["staging"] == 1  # the stale read happened
    assert findings == []
    _assert_consistent(name, request)


def test_apply_moves_mlflow_then_the_sync_runs_before_it_records(
    people, model_factory, in_staging, open_request, commits
):
    name = model_factory(versions=2)
    in_staging(name, 1)
    request = _approved_staging_request(name, 2, people, open_request, commits)
    real_move = apply_service._move_aliases
    seen = []

    def move_then_sync(req, approvers):
        moved = real_move(req, approvers)  # MLflow: @staging → v2
        # the whole reconciliation runs before the apply records the move
        seen.append(registry_model_reconcile(name=name)[1])
        return moved

    with mock.patch.object(apply_service, "_move_aliases", side_effect=move_then_sync):
        promotion_apply(request_id=request.pk)
    assert seen == [[]]  # an apply in flight: not out of band
    _assert_consistent(name, request)
