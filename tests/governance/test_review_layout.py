"""The review page puts the decision near the top: summary, evidence summary
with what blocks, the decision forms, then the details; model cards are
rendered from markdown (raw HTML escaped) and collapsible; times are local."""

import re

from django.urls import reverse

from core.markdown import markdown_html


def _page(client, request) -> str:
    url = reverse("admin:governance_promotionrequest_change", args=[request.pk])
    return client.get(url).content.decode()


def test_decision_controls_come_before_the_details(
    client, people, model_factory, in_production, open_request
):
    name = model_factory(versions=2)
    in_production(name, 1)
    request = open_request(name, 2, "staging")
    client.force_login(people.bob)

    page = _page(client, request)

    order = [
        page.index('class="grid summary"'),
        page.index('id="evidence-summary"'),
        page.index('id="approve-button"'),
        page.index('data-check="metrics"'),
        page.index('id="candidate-card"'),
    ]
    assert order == sorted(order)
    assert "every required check passed" in page
    # the cards are collapsed <details>, rendered from markdown
    card = page[page.index('id="candidate-card"') :]
    card = card[: card.index("</details>")]
    assert "<h1>" in card and "<table>" in card and "# " not in card
    # times are <time> elements the page's script shows in local time
    assert re.search(r'<time class="local" datetime="[^"]+">', page)


def test_the_evidence_summary_names_what_blocks(
    client, people, model_factory, open_request
):
    name = model_factory(versions=1, tags={1: {"modelgate.tests": "failed"}})
    request = open_request(name, 1, "staging")
    client.force_login(people.bob)

    page = _page(client, request)

    summary = page[page.index('id="evidence-summary"') :]
    summary = summary[: summary.index("</section>")]
    assert "not passed" in summary and 'id="blocking-checks"' in summary
    assert 'id="approve-button"' not in page
    assert page.index('id="evidence-summary"') < page.index('id="approve-blocked"')


def test_the_queue_shows_requester_and_created_in_few_columns(
    client, people, model_factory, open_request
):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging")
    client.force_login(people.bob)

    html = client.get(
        reverse("admin:governance_promotionrequest_changelist")
    ).content.decode()

    table = html[html.index('id="result_list"') :]
    header = table[: table.index("</thead>")]
    assert header.count("<th") <= 7  # action checkbox + 5 columns (+ sort)
    assert "requester" in header.lower() and "created" in header.lower()
    assert f"#{request.pk} {name} v1 → staging" in html


def test_model_cards_never_carry_raw_html():
    html = markdown_html(
        "# Card\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    assert "<table>" in html and "<h1>Card</h1>" in html
