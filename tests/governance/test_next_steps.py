"""Every page shows the signed-in role what it can do next: the home page's
cards, the model page's actions, one naming of metrics, and a request form
that lists eligible versions first and links a duplicate to the open one."""

import re

from django.urls import reverse

from config.navigation import next_steps


def _titles(user) -> list[str]:
    return [step.title for step in next_steps(user)]


def test_each_role_gets_the_next_steps_it_may_take(people, db):
    assert "Request a promotion" in _titles(people.alice)
    assert "Review promotions" not in _titles(people.alice)

    assert "Review promotions" in _titles(people.bob)
    assert "Request a promotion" not in _titles(people.bob)

    assert "Open alerts" in _titles(people.erin)
    assert _titles(people.victor)[-1] == "Browse the registry"
    assert "Review promotions" not in _titles(people.victor)
    assert "Request a promotion" not in _titles(people.victor)
    # an API client neither requests nor reviews
    assert {"Request a promotion", "Review promotions"}.isdisjoint(
        _titles(people.client)
    )


def test_a_waiting_review_is_counted_and_comes_first(
    people, model_factory, open_request
):
    name = model_factory(versions=1)
    open_request(name, 1, "staging")

    steps = next_steps(people.bob)

    assert steps[0].title == "Review promotions"
    assert steps[0].count == 1 and steps[0].urgent
    assert "1 request awaits your decision" in steps[0].text
    # a production approver has nothing waiting: a staging request is not theirs
    carol = {step.title: step for step in next_steps(people.carol)}
    assert carol["Review promotions"].count == 0


def test_every_next_step_opens_for_its_user(client, people, model_factory):
    model_factory(versions=1)
    for user in (people.alice, people.bob, people.erin, people.victor, people.client):
        client.force_login(user)
        for step in next_steps(user):
            response = client.get(step.url, follow=True)
            # the role may open it (a model without a served version may
            # still answer 404 on the try page, saying so)
            assert response.status_code in (200, 404), (user.username, step.url)
            assert response.status_code == 200 or "try" in step.url


def test_home_links_each_model_and_names_metrics_one_way(client, people, model_factory):
    name = model_factory(versions=1)
    client.force_login(people.erin)

    html = client.get(reverse("home")).content.decode()

    assert 'id="next-steps"' in html
    assert reverse("governance:model-detail", args=[name]) in html
    assert reverse("monitoring:model-dashboard", args=[name]) in html
    header = html[html.index(f'id="model-{name}"') :]
    header = header[: header.index("</thead>")]
    columns = re.findall(r"<th>([^<]+)</th>", header)
    assert columns[:2] == ["Version", "Tests"]
    assert "roc_auc" not in header and "false_positive_rate" not in header
    assert columns.index("ROC AUC") < columns.index("FPR")
    assert columns.index("Accuracy") < columns.index("MCC")


def test_model_page_uses_the_same_metric_names_and_order(client, people, model_factory):
    name = model_factory(versions=1)
    client.force_login(people.victor)
    html = client.get(reverse("governance:model-detail", args=[name])).content.decode()
    home = client.get(reverse("home")).content.decode()

    def metric_columns(page: str, start: str) -> list[str]:
        part = page[page.index(start) :]
        part = part[: part.index("</thead>")]
        return [c for c in re.findall(r"<th>([^<]+)</th>", part)]

    on_model = metric_columns(html, "grid versions")
    on_home = metric_columns(home, f'id="model-{name}"')
    shared = [c for c in on_home if c in on_model]
    assert shared == [c for c in on_model if c in on_home]
    assert "MCC" in shared and "ROC AUC" in shared


def test_model_page_offers_each_role_its_actions(
    client, people, model_factory, open_request
):
    name = model_factory(versions=2)
    open_request(name, 1, "staging")
    url = reverse("governance:model-detail", args=[name])

    client.force_login(people.alice)
    html = client.get(url).content.decode()
    assert f"{reverse('admin:governance_promotionrequest_add')}?model={name}" in html
    assert 'data-action="review"' not in html

    client.force_login(people.bob)
    html = client.get(url).content.decode()
    assert 'data-action="review"' in html and "1 awaits your decision" in html
    assert 'data-action="request"' not in html

    client.force_login(people.victor)
    html = client.get(url).content.decode()
    assert 'data-action="request"' not in html and 'data-action="review"' not in html
    assert 'data-action="dashboard"' in html


def test_request_form_lists_tested_versions_first_and_prefills_the_model(
    client, people, model_factory, in_staging
):
    name = model_factory(versions=3, tags={2: {"modelgate.tests": "failed"}})
    in_staging(name, 1)
    client.force_login(people.alice)

    html = client.get(
        reverse("admin:governance_promotionrequest_add") + f"?model={name}"
    ).content.decode()

    passed = html[html.index('<optgroup label="Tests passed">') :]
    passed = passed[: passed.index("</optgroup>")]
    failed = html[html.index('<optgroup label="Tests failed or not run">') :]
    failed = failed[: failed.index("</optgroup>")]
    assert f"{name} v3 · tests passed" in passed
    assert f"{name} v1 · tests passed · @staging" in passed
    assert f"{name} v2 · tests failed" in failed
    # preselected: the newest tested version that holds no alias
    selected = re.search(r'<option value="(\d+)" selected>([^<]+)</option>', html)
    assert selected and selected.group(2).startswith(f"{name} v3 ")


def test_a_duplicate_request_shows_one_error_linking_the_open_request(
    client, people, model_factory, open_request
):
    from governance.selectors import model_version_get

    name = model_factory(versions=1)
    existing = open_request(name, 1, "staging")
    version = model_version_get(name=name, version=1)
    client.force_login(people.alice)

    response = client.post(
        reverse("admin:governance_promotionrequest_add"),
        {"model_version": version.pk, "target": "staging", "justification": "again"},
    )

    html = response.content.decode()
    assert response.status_code == 409
    assert html.count("an open request already asks for") == 1
    link = reverse("admin:governance_promotionrequest_change", args=[existing.pk])
    assert f'href="{link}" id="existing-request"' in html
