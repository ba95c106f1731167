"""Remote storage round trips: push, then a fresh clone pulls every output and has nothing to re-run."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from pipeline_repo import dvc, sh, stages_run

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)


def _assert_restored(src: Path, clone: Path) -> None:
    """Every DVC output of src is back in clone, byte for byte, and no stage would re-run."""
    for out in ("data/submission.csv", "data/split.csv", "metrics/evaluate.json"):
        assert (clone / out).read_bytes() == (src / out).read_bytes(), out
    for d in ("models/detect/spinal", "models/classify/foraminal", "data/extracted"):
        assert sorted(p.name for p in (clone / d).rglob("*")) == sorted(p.name for p in (src / d).rglob("*"))
    status = dvc(["status"], clone)
    assert "up to date" in status, status
    assert stages_run(dvc(["repro", "--dry"], clone)) == set()


def _fresh_clone(src: Path, dst: Path) -> Path:
    sh(["git", "clone", "-q", str(src), str(dst)], src.parent)
    return dst


def test_local_remote_push_then_pull_restores_everything(tiny_repo, tmp_path):
    dvc(["push"], tiny_repo.path)
    clone = _fresh_clone(tiny_repo.path, tmp_path / "clone")
    dvc(["pull"], clone)
    _assert_restored(tiny_repo.path, clone)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ssh_server(tmp_path):
    """A real OpenSSH server on 127.0.0.1 that accepts one generated key, for this test only."""
    if SSHD is None:
        pytest.skip("openssh-server is not installed (.ci/run installs it)")
    d = tmp_path / "sshd"
    d.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "client_key")], check=True)
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    port = _free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nStrictModes no\nUsePAM no\n"
        f"PermitRootLogin prohibit-password\nPidFile {d / 'sshd.pid'}\nSubsystem sftp internal-sftp\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory sshd insists on
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE)
    for _ in range(50):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"sshd did not start: {proc.stderr.read().decode()}")
    yield port, d / "client_key"
    proc.terminate()
    proc.wait(timeout=10)


def test_ssh_remote_push_then_pull_restores_everything(tiny_repo, tmp_path, ssh_server):
    import getpass

    port, key = ssh_server
    storage = tmp_path / "ssh-storage"
    storage.mkdir()
    work = _fresh_clone(tiny_repo.path, tmp_path / "pusher")
    dvc(["cache", "dir", str(tiny_repo.path / ".dvc" / "cache")], work)
    dvc(["checkout", "-q"], work)
    url = f"ssh://{getpass.getuser()}@127.0.0.1:{port}{storage}"
    dvc(["remote", "add", "-d", "ssh", url], work)
    dvc(["remote", "modify", "--local", "ssh", "keyfile", str(key)], work)
    dvc(["push", "-r", "ssh"], work)
    sh(["git", "commit", "-qam", "ssh remote"], work)
    clone = _fresh_clone(work, tmp_path / "puller")
    dvc(["remote", "modify", "--local", "ssh", "keyfile", str(key)], clone)
    dvc(["pull", "-r", "ssh"], clone)
    assert any(storage.rglob("*")), "nothing reached the SSH remote"
    _assert_restored(tiny_repo.path, clone)
