"""Ops read the prediction log, feedback and request errors in the admin
(read-only); other people roles do not."""

import pytest

PAGES = [
    "/admin/inference/predictionlog/",
    "/admin/inference/feedback/",
    "/admin/inference/requesterror/",
    "/admin/inference/batchjob/",
]


@pytest.mark.parametrize("path", PAGES)
def test_ops_read_the_log_pages(client, make_user, path):
    client.force_login(make_user("erin", roles=["ops"], is_staff=True))
    assert client.get(path).status_code == 200
    assert client.get(path + "add/").status_code == 403


def test_other_roles_do_not(client, make_user):
    client.force_login(make_user("bob", roles=["staging_approvers"], is_staff=True))
    assert client.get(PAGES[0]).status_code == 403
