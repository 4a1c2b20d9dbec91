"""What every page shares: the icon, the sign-out message, the admin's and the API's names."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

ICON = "/static/img/favicon.svg"
ICON_LINK = f'<link rel="icon" href="{ICON}" type="image/svg+xml">'


def test_favicon_ico_leads_to_the_icon(client):
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == ICON
    assert response["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(response.streaming_content)


@pytest.mark.parametrize("persona", ["anonymous", "owner", "staff"])
def test_pages_link_the_icon(client, persona, request):
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))
    url = reverse("login") if persona == "anonymous" else reverse("llm_artifact:artifact_list")
    assert ICON_LINK in client.get(url).content.decode()


@pytest.mark.parametrize(
    "url", [reverse("admin:index"), reverse("admin:llm_artifact_artifact_changelist")]
)
def test_admin_pages_link_the_icon_and_name_the_site(staff_client, url):
    content = staff_client.get(url).content.decode()
    assert ICON_LINK in content
    assert "LLM Artifacts administration" in content
    assert "Django administration" not in content and "Django site admin" not in content


def test_admin_sign_in_page_links_the_icon(client):
    content = client.get(reverse("admin:login")).content.decode()
    assert ICON_LINK in content and "LLM Artifacts administration" in content


def test_signing_out_says_so_on_the_sign_in_page(owner_client):
    response = owner_client.post(reverse("logout"), follow=True)
    assert response.redirect_chain == [(reverse("login"), 302)]
    content = response.content.decode()
    assert "You have signed out." in content
    assert 'role="status"' in content
    # Signed out for real, and the message shows once.
    assert not response.wsgi_request.user.is_authenticated
    assert "You have signed out." not in owner_client.get(reverse("login")).content.decode()


def test_a_plain_visit_to_sign_in_has_no_message(client):
    assert "You have signed out." not in client.get(reverse("login")).content.decode()


def test_api_root_asks_anonymous_visitors_to_sign_in(api_client):
    response = api_client.get(reverse("api:api-root"), HTTP_ACCEPT="text/html")
    assert response.status_code == 401
    assert "default basic root view" not in response.content.decode()


@pytest.mark.parametrize("persona", ["owner", "other_user", "staff"])
def test_api_root_describes_the_api(persona, request, api_client):
    api_client.force_authenticate(request.getfixturevalue(persona))
    response = api_client.get(reverse("api:api-root"), HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    content = response.content.decode()
    assert "default basic root view" not in content
    assert "<h1>LLM Artifacts API</h1>" in content
    assert "<p>The REST API of LLM Artifacts: agents, chats and their turns," in content
    assert "<br" not in content.split("<h1>LLM Artifacts API</h1>", 1)[1].split("</p>", 1)[0]
    json_root = api_client.get(reverse("api:api-root"), HTTP_ACCEPT="application/json")
    assert "artifacts" in json_root.json()


def test_signing_out_of_the_admin_says_so_too(staff_client):
    response = staff_client.post(reverse("admin:logout"), follow=True)
    assert response.redirect_chain == [(reverse("login"), 302)]
    assert "You have signed out." in response.content.decode()
    assert staff_client.get(reverse("admin:index")).status_code == 302  # signed out for real
