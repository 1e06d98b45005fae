"""The spec manager: python3 made project-aware, everything else as jupyter_client has it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from jupyter import PROJECT_KERNELS_CONFIG, running_server
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from project_kernels.kernelspec import ProjectKernelSpecManager
from project_kernels.picker import kernel_name

STANZA = {"provisioner_name": "project-kernels", "config": {}}
IPYKERNEL_ARGV = ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def write_spec(kernels: Path, name: str, spec: dict[str, Any]) -> None:
    (kernels / name).mkdir(parents=True)
    (kernels / name / "kernel.json").write_text(json.dumps(spec))


@pytest.fixture
def kernels(tmp_path: Path) -> Path:
    """A kernels directory of our own (python3 comes from ipykernel's built-in spec)."""
    path = tmp_path / "kernels"
    path.mkdir()
    return path


def manager(kernels: Path, **traits: Any) -> ProjectKernelSpecManager:
    return ProjectKernelSpecManager(kernel_dirs=[str(kernels)], **traits)


def all_specs(ksm: ProjectKernelSpecManager) -> dict[str, Any]:
    return asyncio.run(ksm.get_all_specs())


def test_python3_names_the_provisioner_and_keeps_its_metadata(kernels: Path) -> None:
    spec = manager(kernels).get_kernel_spec("python3")
    assert spec.metadata["kernel_provisioner"] == STANZA
    stock = KernelSpecManager(kernel_dirs=[str(kernels)]).get_kernel_spec("python3")
    assert "kernel_provisioner" not in stock.metadata
    for key, value in stock.metadata.items():  # debugger, supported_encryption, ...
        assert spec.metadata[key] == value
    assert spec.argv == stock.argv
    assert spec.display_name == stock.display_name


def test_every_call_hands_out_a_fresh_spec(kernels: Path) -> None:
    ksm = manager(kernels)
    first = ksm.get_kernel_spec("python3")
    first.metadata["changed"] = True
    first.argv.append("--changed")
    second = ksm.get_kernel_spec("python3")
    assert second is not first
    assert "changed" not in second.metadata
    assert "--changed" not in second.argv


def test_the_display_name_of_python3_is_configurable(kernels: Path) -> None:
    ksm = manager(kernels, display_name="Python (this project)")
    assert ksm.get_kernel_spec("python3").display_name == "Python (this project)"
    listed = all_specs(ksm)["python3"]["spec"]
    assert listed["display_name"] == "Python (this project)"
    assert listed["metadata"]["kernel_provisioner"] == STANZA
    assert manager(kernels).get_kernel_spec("python3").display_name == "Python 3 (ipykernel)"


def test_a_python3_that_enable_wrote_still_takes_the_display_name(kernels: Path) -> None:
    metadata = {"debugger": True, "kernel_provisioner": STANZA}
    write_spec(
        kernels,
        "python3",
        {"argv": IPYKERNEL_ARGV, "display_name": "P", "language": "python", "metadata": metadata},
    )
    spec = manager(kernels, display_name="Project Python").get_kernel_spec("python3")
    assert spec.display_name == "Project Python"
    assert spec.metadata == metadata


def test_other_kernels_pass_unchanged(kernels: Path) -> None:
    write_spec(
        kernels,
        "ir",
        {"argv": ["R", "--slave", "-f", "{connection_file}"], "language": "R", "display_name": "R"},
    )
    theirs = {"provisioner_name": "local-provisioner", "config": {}}
    write_spec(
        kernels,
        "theirs",
        {
            "argv": IPYKERNEL_ARGV,
            "language": "python",
            "display_name": "T",
            "metadata": {"kernel_provisioner": theirs},
        },
    )
    write_spec(kernels, "mine", {"argv": IPYKERNEL_ARGV, "language": "python", "display_name": "M"})
    ksm = manager(kernels, display_name="X")
    assert ksm.get_kernel_spec("ir").metadata == {}
    assert ksm.get_kernel_spec("theirs").metadata == {"kernel_provisioner": theirs}
    assert ksm.get_kernel_spec("mine").metadata == {}, "only project_kernel_names are changed"
    assert ksm.get_kernel_spec("mine").display_name == "M"
    chosen = manager(kernels, project_kernel_names=["python3", "mine"])
    assert chosen.get_kernel_spec("mine").metadata["kernel_provisioner"] == STANZA


def test_a_spec_naming_a_missing_provisioner_is_not_offered(kernels: Path) -> None:
    missing = {"provisioner_name": "not-installed-anywhere", "config": {}}
    write_spec(
        kernels,
        "ghost",
        {
            "argv": IPYKERNEL_ARGV,
            "language": "python",
            "display_name": "G",
            "metadata": {"kernel_provisioner": missing},
        },
    )
    ksm = manager(kernels)
    with pytest.raises(NoSuchKernel):
        ksm.get_kernel_spec("ghost")
    assert "ghost" not in all_specs(ksm)


def test_without_list_environments_only_the_usual_specs_are_listed(kernels: Path) -> None:
    assert set(all_specs(manager(kernels))) == {"python3"}


@pytest.mark.slow
def test_the_server_shows_the_configured_display_name(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    config = PROJECT_KERNELS_CONFIG + 'c.ProjectKernelSpecManager.display_name = "Project Python"\n'
    with running_server(root, tmp_path, config) as server:
        spec = server.request("GET", "/api/kernelspecs").json()["kernelspecs"]["python3"]["spec"]
        assert spec["display_name"] == "Project Python"
        assert spec["metadata"]["kernel_provisioner"] == STANZA
        single = server.request("GET", "/api/kernelspecs/python3").json()["spec"]
        assert single["display_name"] == "Project Python"


@pytest.mark.slow
def test_a_notebook_saved_with_a_listed_kernel_opens_where_project_kernels_is_absent(
    tmp_path: Path,
) -> None:
    """A stock server answers "pick another kernel" (JupyterLab's chooser), not an error loop."""
    root = tmp_path / "root"
    root.mkdir()
    with running_server(root, tmp_path, "") as server:
        response = server.start_session("analysis/report.ipynb", kernel_name("analysis/.venv"))
        assert response.status_code == 501, response.text
        assert "Please pick another suitable kernel" in response.json()["message"]
        assert server.request("GET", "/api/sessions").json() == []
        assert server.request("GET", "/api/status").ok
