"""Repos through the real huggingface_hub client: downloads, uploads (regular + LFS), commits, errors."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.conftest import assert_no_canary

CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576}


@pytest.fixture
def api(fake_hub) -> HfApi:
    return HfApi(endpoint=fake_hub.url)


@pytest.fixture
def model_repo(fake_hub) -> str:
    fake_hub.add_repo(
        "tester/smol",
        files={
            "config.json": json.dumps(CONFIG).encode(),
            "README.md": "# smol\n",
            "model.safetensors": os.urandom(4096),
            "sub/dir/notes.txt": "nested\n",
        },
    )
    return "tester/smol"


def test_hf_hub_download_config_json(fake_hub, model_repo, tmp_path):
    path = hf_hub_download(model_repo, "config.json", endpoint=fake_hub.url, cache_dir=tmp_path)
    assert json.loads(Path(path).read_text()) == CONFIG
    heads = fake_hub.requests_to(r"/tester/smol/resolve/main/config\.json$", "HEAD")
    assert heads and heads[0].auth == "valid"
    # second call hits the cache after a HEAD (etag unchanged): no second GET
    hf_hub_download(model_repo, "config.json", endpoint=fake_hub.url, cache_dir=tmp_path)
    assert len(fake_hub.requests_to(r"/tester/smol/resolve/main/config\.json$", "GET")) == 1


def test_lfs_file_download_goes_through_the_storage_redirect_without_the_token(
    fake_hub, model_repo, tmp_path
):
    expected = fake_hub.repo_files(model_repo)["model.safetensors"]
    path = hf_hub_download(model_repo, "model.safetensors", endpoint=fake_hub.url, cache_dir=tmp_path)
    assert Path(path).read_bytes() == expected
    cdn = fake_hub.requests_to(r"^/__storage__/cdn/", "GET")
    assert len(cdn) == 1 and cdn[0].auth is None  # the token never leaves the Hub origin
    # blob stored under its sha256, as the cache does for LFS files
    assert hashlib.sha256(expected).hexdigest() in {p.name for p in tmp_path.rglob("*") if p.is_file()}


def test_snapshot_download_gets_every_file(fake_hub, model_repo, tmp_path):
    folder = Path(snapshot_download(model_repo, endpoint=fake_hub.url, cache_dir=tmp_path / "cache"))
    got = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert got == fake_hub.repo_files(model_repo)
    local = Path(snapshot_download(model_repo, endpoint=fake_hub.url, local_dir=tmp_path / "local"))
    assert (local / "sub/dir/notes.txt").read_text() == "nested\n"


def test_model_info_list_files_and_tree(api, model_repo, fake_hub):
    info = api.model_info(model_repo, files_metadata=True)
    assert info.id == model_repo and info.sha == fake_hub.repo_commits(model_repo)[-1]["oid"]
    by_name = {s.rfilename: s for s in info.siblings}
    assert by_name["model.safetensors"].lfs is not None and by_name["config.json"].lfs is None
    assert info.config == {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
    assert sorted(api.list_repo_files(model_repo)) == sorted(fake_hub.repo_files(model_repo))
    top = {e.path for e in api.list_repo_tree(model_repo)}
    assert top == {"README.md", "config.json", "model.safetensors", "sub"}
    assert {e.path for e in api.list_repo_tree(model_repo, path_in_repo="sub/dir")} == {"sub/dir/notes.txt"}
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(model_repo, path_in_repo="nope"))


def test_tree_pagination(api, fake_hub):
    fake_hub.tree_page_size = 3
    fake_hub.add_repo("tester/many", files={f"f{i:02d}.txt": str(i) for i in range(8)})
    assert len(api.list_repo_files("tester/many")) == 8
    assert len(fake_hub.requests_to(r"/api/models/tester/many/tree/main$")) == 3


def test_upload_small_text_and_large_binary_via_lfs(api, fake_hub, tmp_path):
    api.create_repo("tester/out", private=True)
    big = tmp_path / "adapter_model.safetensors"
    big.write_bytes(os.urandom(10 * 1024 * 1024 + 1234))
    api.upload_file(path_or_fileobj=str(big), path_in_repo="adapter_model.safetensors", repo_id="tester/out")
    api.upload_file(path_or_fileobj=b'{"r": 16}', path_in_repo="adapter_config.json", repo_id="tester/out")
    files = fake_hub.repo_files("tester/out")
    assert files["adapter_model.safetensors"] == big.read_bytes()
    assert files["adapter_config.json"] == b'{"r": 16}'
    assert ".gitattributes" in files  # the Hub seeds new repos with it
    assert fake_hub.lfs_files("tester/out") == {"adapter_model.safetensors"}
    assert fake_hub.lfs_uploads == [hashlib.sha256(big.read_bytes()).hexdigest()]
    batch = fake_hub.requests_to(r"^/tester/out\.git/info/lfs/objects/batch$")
    assert len(batch) == 1 and batch[0].json["operation"] == "upload"
    puts = fake_hub.requests_to(r"^/__storage__/upload/", "PUT")
    assert len(puts) == 1 and puts[0].auth is None
    # re-uploading the same content is a no-op the client detects from preupload's oid
    before = len(fake_hub.repo_commits("tester/out"))
    api.upload_file(path_or_fileobj=b'{"r": 16}', path_in_repo="adapter_config.json", repo_id="tester/out")
    assert len(fake_hub.repo_commits("tester/out")) == before
    # and it downloads back intact
    path = hf_hub_download(
        "tester/out", "adapter_model.safetensors", endpoint=fake_hub.url, cache_dir=tmp_path / "c"
    )
    assert Path(path).read_bytes() == big.read_bytes()


def test_multipart_lfs_upload(api, fake_hub, tmp_path):
    fake_hub.lfs_multipart_chunk_size = 1024 * 1024
    api.create_repo("tester/mp")
    data = os.urandom(3 * 1024 * 1024 + 17)
    api.upload_file(path_or_fileobj=data, path_in_repo="model.gguf", repo_id="tester/mp")
    assert fake_hub.repo_files("tester/mp")["model.gguf"] == data
    assert len(fake_hub.requests_to(r"^/__storage__/upload/[0-9a-f]+/part/\d+$", "PUT")) == 4


def test_upload_folder_and_commit_history(api, fake_hub, tmp_path):
    api.create_repo("tester/ckpt", exist_ok=True)
    api.create_repo("tester/ckpt", exist_ok=True)  # 409 tolerated by the client
    for step in (100, 200):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        (folder / "adapter_model.safetensors").write_bytes(os.urandom(2048))
        api.upload_folder(folder_path=str(folder), repo_id="tester/ckpt", commit_message=f"step {step}")
    commits = api.list_repo_commits("tester/ckpt")
    assert [c.title for c in commits] == ["step 200", "step 100", "initial commit"]
    assert commits[0].authors == ["tester"]
    assert json.loads(fake_hub.repo_files("tester/ckpt")["trainer_state.json"]) == {"global_step": 200}


def test_seeded_commits_and_live_commits_are_listed_newest_first(api, fake_hub):
    fake_hub.add_repo(
        "tester/run",
        files={"README.md": "x"},
        commits=[
            {"title": f"step {n}", "files": {"adapter_model.safetensors": os.urandom(64)}} for n in (10, 20)
        ],
    )
    fake_hub.commits_page_size = 2
    fake_hub.add_commit("tester/run", {"adapter_model.safetensors": b"\x00" * 10}, title="step 486")
    titles = [c.title for c in api.list_repo_commits("tester/run")]
    assert titles == ["step 486", "step 20", "step 10", "initial commit"]
    assert len(fake_hub.requests_to(r"/api/models/tester/run/commits/main$")) == 2  # paged


def test_gated_repo_raises_gated_repo_error(api, fake_hub, tmp_path):
    fake_hub.add_repo("meta-llama/Llama-3.1-8B", files={"config.json": b"{}"}, gated=True)
    info = api.model_info("meta-llama/Llama-3.1-8B")  # the card is public, as on the Hub
    assert info.gated == "manual"
    with pytest.raises(GatedRepoError) as err:
        hf_hub_download("meta-llama/Llama-3.1-8B", "config.json", endpoint=fake_hub.url, cache_dir=tmp_path)
    assert err.value.response.status_code == 403
    assert err.value.response.headers["X-Error-Code"] == "GatedRepo"
    with pytest.raises(GatedRepoError):
        api.auth_check("meta-llama/Llama-3.1-8B")
    assert_no_canary(str(err.value))


def test_missing_and_private_repos_are_repository_not_found(api, fake_hub, tmp_path):
    with pytest.raises(RepositoryNotFoundError) as err:
        api.model_info("nobody/nothing")
    assert err.value.response.status_code == 404
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("nobody/nothing", "config.json", endpoint=fake_hub.url, cache_dir=tmp_path)
    fake_hub.add_repo("other/secret", files={"a.txt": "a"}, private=True)
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info("other/secret")  # wrong type
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("other/secret")  # private, not ours


def test_missing_file_and_revision(api, fake_hub, model_repo, tmp_path):
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(model_repo, "nope.json", endpoint=fake_hub.url, cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError):
        api.model_info(model_repo, revision="v9")
    first = fake_hub.repo_commits(model_repo)[0]["oid"]
    assert api.model_info(model_repo, revision=first).sha == first


def test_datasets_info_download_and_upload(api, fake_hub, tmp_path):
    fake_hub.add_repo("tester/chats", repo_type="dataset", files={"train.jsonl": '{"messages": []}\n'})
    assert api.dataset_info("tester/chats").id == "tester/chats"
    path = hf_hub_download(
        "tester/chats", "train.jsonl", repo_type="dataset", endpoint=fake_hub.url, cache_dir=tmp_path
    )
    assert Path(path).read_text() == '{"messages": []}\n'
    api.upload_file(
        path_or_fileobj=b"x\n", path_in_repo="eval.jsonl", repo_id="tester/chats", repo_type="dataset"
    )
    assert fake_hub.repo_files("tester/chats", repo_type="dataset")["eval.jsonl"] == b"x\n"


def test_write_to_someone_elses_namespace_is_forbidden(api):
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as err:
        api.create_repo("someone/else")
    assert err.value.response.status_code == 403


def test_hf_file_system_lists_globs_and_reads(fake_hub):
    from huggingface_hub import HfFileSystem

    fake_hub.add_repo("tester/d", repo_type="dataset", files={"data/train.jsonl": "a\nb\n", "README.md": "x"})
    fs = HfFileSystem(endpoint=fake_hub.url)
    assert sorted(fs.ls("datasets/tester/d", detail=False)) == [
        "datasets/tester/d/README.md",
        "datasets/tester/d/data",
    ]
    assert fs.glob("datasets/tester/d/**/*.jsonl") == ["datasets/tester/d/data/train.jsonl"]
    with fs.open("datasets/tester/d/data/train.jsonl", "rb") as f:
        f.seek(2)
        assert f.read() == b"b\n"
    assert fake_hub.unhandled == [] and fake_hub.errors == []


def test_list_models_and_datasets_by_author_and_search(api, fake_hub):
    fake_hub.add_repo("tester/smol-sft", files={"config.json": "{}"})
    fake_hub.add_repo("tester/smol-dpo", files={"config.json": "{}"})
    fake_hub.add_repo("other/big", files={"config.json": "{}"})
    fake_hub.add_repo("tester/chats", repo_type="dataset", files={"a.jsonl": "{}"})
    assert sorted(m.id for m in api.list_models(author="tester")) == ["tester/smol-dpo", "tester/smol-sft"]
    assert [m.id for m in api.list_models(search="big")] == ["other/big"]
    assert [d.id for d in api.list_datasets(author="tester")] == ["tester/chats"]
    assert len(list(api.list_models(limit=1))) == 1


def test_readme_validation_delete_file_and_folder(api, fake_hub):
    api.create_repo("tester/card")
    api.upload_file(
        path_or_fileobj=b"---\nlicense: apache-2.0\n---\n# card\n",
        path_in_repo="README.md",
        repo_id="tester/card",
    )
    assert fake_hub.requests_to(r"^/api/validate-yaml$", "POST")
    api.upload_file(path_or_fileobj=b"1", path_in_repo="ckpt/a.txt", repo_id="tester/card")
    api.upload_file(path_or_fileobj=b"2", path_in_repo="ckpt/b.txt", repo_id="tester/card")
    api.delete_file("README.md", repo_id="tester/card")
    api.delete_folder("ckpt", repo_id="tester/card")
    assert set(fake_hub.repo_files("tester/card")) == {".gitattributes"}
    assert api.file_exists("tester/card", ".gitattributes") and not api.file_exists(
        "tester/card", "README.md"
    )
    assert api.repo_exists("tester/card") and not api.repo_exists("tester/nope")


def test_commit_payload_is_recorded_as_parsed_ndjson(api, fake_hub):
    api.create_repo("tester/nd")
    api.upload_file(path_or_fileobj=b"hi", path_in_repo="a.txt", repo_id="tester/nd", commit_message="add a")
    (commit,) = fake_hub.requests_to(r"^/api/models/tester/nd/commit/main$", "POST")
    assert commit.json[0] == {"key": "header", "value": {"summary": "add a", "description": ""}}
    assert commit.json[1]["key"] == "file" and commit.json[1]["value"]["path"] == "a.txt"
