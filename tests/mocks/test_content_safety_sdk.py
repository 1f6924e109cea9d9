"""Microsoft's own client, `azure-ai-contentsafety` (api-version 2023-10-01), against the running mock: text
analysis, the blocklist API and the SDK's reading of the service's error body."""

import pytest

from conftest import mock_config, running_mock

contentsafety = pytest.importorskip("azure.ai.contentsafety", reason="azure-ai-contentsafety is in the test extra")
from azure.ai.contentsafety import BlocklistClient, ContentSafetyClient  # noqa: E402
from azure.ai.contentsafety.models import (  # noqa: E402
    AddOrUpdateTextBlocklistItemsOptions,
    AnalyzeTextOptions,
    AnalyzeTextOutputType,
    RemoveTextBlocklistItemsOptions,
    TextBlocklist,
    TextBlocklistItem,
    TextCategory,
)
from azure.core.credentials import AzureKeyCredential  # noqa: E402
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError  # noqa: E402

KEY = "sdk-key"


@pytest.fixture(scope="module")
def endpoint():
    config = mock_config(auth={"mode": "keys", "keys": [KEY]},
                         content_safety={"lexicon": {"categories": {"Hate": {"grumpy": 3}}}})
    with running_mock(config) as (url, _):
        yield url


@pytest.fixture
def client(endpoint):
    return ContentSafetyClient(endpoint, AzureKeyCredential(KEY))


@pytest.fixture
def blocklists(endpoint):
    return BlocklistClient(endpoint, AzureKeyCredential(KEY))


def by_category(result):
    return {item.category: item.severity for item in result.categories_analysis}


def test_analyze_text_in_four_and_eight_levels(client):
    four = client.analyze_text(AnalyzeTextOptions(text="A grumpy man with a weapon"))
    assert by_category(four) == {TextCategory.HATE: 2, TextCategory.SELF_HARM: 0, TextCategory.SEXUAL: 0, TextCategory.VIOLENCE: 4}
    eight = client.analyze_text(AnalyzeTextOptions(text="A grumpy man with a weapon", categories=[TextCategory.HATE],
                                                   output_type=AnalyzeTextOutputType.EIGHT_SEVERITY_LEVELS))
    assert by_category(eight) == {TextCategory.HATE: 3}
    assert eight.blocklists_match == []


def test_blocklist_lifecycle_through_the_sdk(client, blocklists):
    name = "sdk-terms"
    created = blocklists.create_or_update_text_blocklist(
        blocklist_name=name, options=TextBlocklist(blocklist_name=name, description="from the SDK"))
    assert created.blocklist_name == name and created.description == "from the SDK"
    added = blocklists.add_or_update_blocklist_items(
        blocklist_name=name, options=AddOrUpdateTextBlocklistItemsOptions(blocklist_items=[
            TextBlocklistItem(text="Litware", description="a rival"), TextBlocklistItem(text="Tailspin")]))
    ids = {item.text: item.blocklist_item_id for item in added.blocklist_items}
    assert set(ids) == {"Litware", "Tailspin"}
    assert {b.blocklist_name for b in blocklists.list_text_blocklists()} >= {name}
    assert [i.text for i in blocklists.list_text_blocklist_items(blocklist_name=name)] == ["Litware", "Tailspin"]
    assert blocklists.get_text_blocklist_item(blocklist_name=name, blocklist_item_id=ids["Litware"]).description == "a rival"

    hit = client.analyze_text(AnalyzeTextOptions(text="LITWARE will attack", blocklist_names=[name], halt_on_blocklist_hit=True))
    assert [(m.blocklist_name, m.blocklist_item_id, m.blocklist_item_text) for m in hit.blocklists_match] == [
        (name, ids["Litware"], "Litware")]
    assert hit.categories_analysis == []
    full = client.analyze_text(AnalyzeTextOptions(text="LITWARE will attack", blocklist_names=[name], halt_on_blocklist_hit=False))
    assert by_category(full)[TextCategory.VIOLENCE] == 2

    blocklists.remove_blocklist_items(blocklist_name=name, options=RemoveTextBlocklistItemsOptions(blocklist_item_ids=[ids["Litware"]]))
    after = client.analyze_text(AnalyzeTextOptions(text="Litware and Tailspin", blocklist_names=[name]))
    assert [m.blocklist_item_text for m in after.blocklists_match] == ["Tailspin"]
    blocklists.delete_text_blocklist(blocklist_name=name)
    with pytest.raises(ResourceNotFoundError) as raised:
        blocklists.get_text_blocklist(blocklist_name=name)
    assert raised.value.error.code == "ResourceNotFound"


def test_the_sdk_reads_the_service_errors(client, endpoint):
    with pytest.raises(HttpResponseError) as raised:
        client.analyze_text(AnalyzeTextOptions(text="x" * 10_001))
    assert raised.value.status_code == 400 and raised.value.error.code == "InvalidRequestBody"
    assert "10000" in raised.value.error.message
    with pytest.raises(ClientAuthenticationError):
        ContentSafetyClient(endpoint, AzureKeyCredential("wrong")).analyze_text(AnalyzeTextOptions(text="hello"))
