"""The fixture is wired: HF_ENDPOINT points at a live fake Hub that knows the test's token."""

from __future__ import annotations

import os

from huggingface_hub import HfApi


def test_fixture_points_hf_endpoint_at_the_fake(fake_hub):
    assert os.environ["HF_ENDPOINT"] == fake_hub.url
    assert os.environ["HF_HUB_DISABLE_XET"] == "1"
    assert HfApi(endpoint=fake_hub.url).whoami()["name"] == "tester"
    assert fake_hub.user == "tester"
