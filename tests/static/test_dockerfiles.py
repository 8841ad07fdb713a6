"""Container images: every Dockerfile is pinned by config/versions.env, runs as non-root and
bakes in no secret; the build script passes every version. No Docker needed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from lakehouse.versions import versions

pytestmark = pytest.mark.static

REPO = Path(__file__).resolve().parents[2]
V = versions()
DOCKERFILES = sorted((REPO / "services").glob("*/Dockerfile"))
# Local builds of third-party images (scripts/images/third-party.sh): not deployables, same rules
# except the tag, which names the upstream version they contain instead of IMAGE_TAG.
THIRD_PARTY_DOCKERFILES = sorted((REPO / "infra" / "images").glob("*/Dockerfile"))
ALL_DOCKERFILES = DOCKERFILES + THIRD_PARTY_DOCKERFILES
IMAGES_DIR = REPO / "scripts" / "images"
# ARGs that are not versions: the base image and build metadata.
NON_VERSION_ARGS = {"BASE_IMAGE", "VCS_REF", "SOURCE_URL"}
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY|_KEY\b", re.I)
SHARED_START, SHARED_END = "# >>> shared Python stages", "# <<< shared Python stages"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    current = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += " " + line.removesuffix("\\").strip()
        if not line.endswith("\\"):
            keyword, _, args = current.strip().partition(" ")
            result.append((keyword.upper(), args.strip()))
            current = ""
    return result


def arg_names(dockerfile: Path) -> set[str]:
    return {args.split("=")[0] for kw, args in instructions(dockerfile) if kw == "ARG"}


def ids(p: Path) -> str:
    return p.parent.name


def test_every_deployable_has_a_dockerfile() -> None:
    names = {p.parent.name for p in DOCKERFILES}
    expected = {"spark-jobs", "kafka-connect", "connector-config", "flows", "serving-api", "loadgen"}
    assert expected <= names, f"missing services/<name>/Dockerfile for {sorted(expected - names)}"
    common = (IMAGES_DIR / "common.sh").read_text()
    listed = set(re.search(r"^IMAGES=\(([^)]*)\)", common, re.M).group(1).split())  # type: ignore[union-attr]
    assert listed == names, f"IMAGES in scripts/images/common.sh {sorted(listed)} != Dockerfiles {sorted(names)}"


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=ids)
def test_base_image_arg_has_the_upstream_default(dockerfile: Path) -> None:
    first = instructions(dockerfile)[0]
    assert first[0] == "ARG" and first[1].startswith("BASE_IMAGE="), (
        f"{dockerfile}: must start with `ARG BASE_IMAGE=<upstream image>` (global, before FROM)"
    )
    default = first[1].split("=", 1)[1]
    expected = f"debian:{V['DEBIAN_RELEASE']}-slim"
    assert default == expected, (
        f"{dockerfile}: BASE_IMAGE defaults to {default!r}; the upstream base for DEBIAN_RELEASE is {expected!r}"
    )


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=ids)
def test_every_from_uses_an_arg_or_an_earlier_stage(dockerfile: Path) -> None:
    stages: set[str] = set()
    froms = [args for kw, args in instructions(dockerfile) if kw == "FROM"]
    if dockerfile in DOCKERFILES:
        assert len(froms) >= 2, f"{dockerfile}: multi-stage expected (a builder stage and a runtime stage)"
    for args in froms:
        parts = args.split()
        image = parts[0]
        assert image.startswith("${") or image in stages, (
            f"{dockerfile}: `FROM {args}` names an image literally; use FROM ${{BASE_IMAGE}} or a stage"
        )
        if len(parts) == 3 and parts[1].upper() == "AS":
            stages.add(parts[2])


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=ids)
def test_final_user_is_not_root(dockerfile: Path) -> None:
    ins = instructions(dockerfile)
    last_from = max(i for i, (kw, _) in enumerate(ins) if kw == "FROM")
    users = [args for kw, args in ins[last_from:] if kw == "USER"]
    assert users, f"{dockerfile}: the final stage sets no USER (it would run as root)"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"{dockerfile}: final USER is {users[-1]}"
    assert user.isdigit(), f"{dockerfile}: USER {users[-1]}: use a numeric uid so runAsNonRoot can verify it"


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=ids)
def test_no_literal_versions_from_the_versions_file(dockerfile: Path) -> None:
    body = [line for line in dockerfile.read_text().splitlines() if not line.startswith("ARG BASE_IMAGE=")]
    text = "\n".join(body)
    pinned = {k: v for k, v in V.items() if re.search(r"\d", v) or k == "DEBIAN_RELEASE"}
    found = [
        f"{k}={v}" for k, v in pinned.items() if len(v) >= 2 and re.search(rf"(?<![\w.]){re.escape(v)}(?![\w])", text)
    ]
    assert not found, f"{dockerfile} spells {found} literally; take them as ARGs from config/versions.env"


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=ids)
def test_args_are_versions_file_keys_without_defaults(dockerfile: Path) -> None:
    for kw, args in instructions(dockerfile):
        if kw != "ARG":
            continue
        name, _, default = args.partition("=")
        if name in NON_VERSION_ARGS:
            continue
        assert name in V, f"{dockerfile}: ARG {name} is not a key of config/versions.env"
        assert not default, f"{dockerfile}: ARG {name} has a default {default!r}; build.sh passes it"


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=ids)
def test_no_secret_in_env_arg_or_copy(dockerfile: Path) -> None:
    for kw, args in instructions(dockerfile):
        if kw in {"ENV", "ARG"}:
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split()[0]]
            bad = [n for n in names if SECRET_NAME.search(n)]
            assert not bad, f"{dockerfile}: {kw} {bad} looks like a secret; pass secrets at run time"
        if kw in {"COPY", "ADD"}:
            assert not re.search(r"\.(pem|crt|key)\b|ca-certificates|secret", args, re.I), (
                f"{dockerfile}: `{kw} {args}` copies key material into a layer; use RUN --mount=type=secret"
            )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=ids)
def test_labels_and_entrypoint(dockerfile: Path) -> None:
    ins = instructions(dockerfile)
    labels = " ".join(args for kw, args in ins if kw == "LABEL")
    for key in ("title", "version", "revision", "base.name"):
        assert f"org.opencontainers.image.{key}=" in labels, f"{dockerfile}: no org.opencontainers.image.{key} label"
    assert '"${IMAGE_TAG}"' in labels, f"{dockerfile}: the version label must be IMAGE_TAG"
    assert any(kw == "ENTRYPOINT" for kw, _ in ins), f"{dockerfile}: no ENTRYPOINT"


@pytest.mark.parametrize("dockerfile", THIRD_PARTY_DOCKERFILES, ids=ids)
def test_third_party_labels_and_entrypoint(dockerfile: Path) -> None:
    ins = instructions(dockerfile)
    labels = " ".join(args for kw, args in ins if kw == "LABEL")
    for key in ("title", "version", "revision", "base.name", "description"):
        assert f"org.opencontainers.image.{key}=" in labels, f"{dockerfile}: no org.opencontainers.image.{key} label"
    assert "${IMAGE_TAG}" not in labels, f"{dockerfile}: a third-party build is versioned by what it contains"
    assert f'title="lakehouse/{dockerfile.parent.name}"' in labels
    assert any(kw == "ENTRYPOINT" for kw, _ in ins), f"{dockerfile}: no ENTRYPOINT"


def test_third_party_images_agree_with_the_build_script() -> None:
    common = (IMAGES_DIR / "common.sh").read_text()
    listed = set(re.search(r"^THIRD_PARTY_IMAGES=\(([^)]*)\)", common, re.M).group(1).split())  # type: ignore[union-attr]
    assert listed == {p.parent.name for p in THIRD_PARTY_DOCKERFILES}, (
        f"THIRD_PARTY_IMAGES in scripts/images/common.sh {sorted(listed)} != infra/images/*/Dockerfile"
    )
    assert not listed & {p.parent.name for p in DOCKERFILES}, "a name is both ours and third-party"
    refs = subprocess.run(
        [
            "bash",
            "-c",
            f'source {IMAGES_DIR / "common.sh"} && for n in "${{THIRD_PARTY_IMAGES[@]}}"; do '
            'echo "$n $(third_party_ref $n)"; done',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert {line.split()[0]: line.split()[1] for line in refs if line} == {
        "postgres": f"lakehouse/postgres:{V['POSTGRES_MAJOR']}-{V['DEBIAN_RELEASE']}",
        "kafka": f"lakehouse/kafka:{V['KAFKA_VERSION']}",
        "minio": f"lakehouse/minio:{V['MINIO_VERSION']}",
    }


def test_python_images_share_identical_stages() -> None:
    blocks = {}
    for p in DOCKERFILES:
        text = p.read_text()
        if SHARED_START in text:
            blocks[p.parent.name] = text[text.index(SHARED_START) : text.index(SHARED_END)]
    assert {"spark-jobs", "connector-config", "flows", "serving-api", "loadgen"} <= set(blocks)
    reference = blocks["connector-config"]
    drifted = [name for name, block in blocks.items() if block != reference]
    assert not drifted, f"the shared Python stages of {drifted} differ from services/connector-config/Dockerfile"
    assert "--require-hashes" in (IMAGES_DIR / "python-venv.sh").read_text()
    assert "requirements.lock" in reference and "type=secret,id=pip-ca" in reference
    assert "python-venv.sh spark-wheels" in blocks_after(REPO / "services" / "spark-jobs" / "Dockerfile"), (
        "spark-jobs must add pyspark (left out of the shared venv) from requirements.lock"
    )


def blocks_after(dockerfile: Path) -> str:
    text = dockerfile.read_text()
    return text[text.index(SHARED_END) :]


def test_build_script_passes_every_version_as_build_arg() -> None:
    build = (IMAGES_DIR / "build.sh").read_text()
    assert "version_build_args" in build and '"${build_args[@]}"' in build, (
        "scripts/images/build.sh must pass version_build_args to docker build"
    )
    out = subprocess.run(
        ["bash", "-c", f"source {IMAGES_DIR / 'common.sh'} && version_build_args"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    passed = dict(a.split("=", 1) for a in out[1::2] if a)
    assert all(flag == "--build-arg" for flag in out[0::2] if flag), out
    assert passed == V, "version_build_args does not pass exactly config/versions.env"
    used = set().union(*(arg_names(p) for p in ALL_DOCKERFILES)) - NON_VERSION_ARGS
    assert used <= set(passed), f"Dockerfile ARGs not passed by build.sh: {sorted(used - set(passed))}"


def test_dockerignore_keeps_the_context_small_and_secret_free() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert lines and "*" in lines, ".dockerignore must exclude everything by default"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert not any(p.startswith((".venv", ".local", ".git")) for p in included)
    for dockerfile in ALL_DOCKERFILES:
        for kw, args in instructions(dockerfile):
            if kw != "COPY" or "--from=" in args:
                continue
            for source in args.split()[:-1]:
                assert any(source == inc or source.startswith(inc + "/") for inc in included), (
                    f"{dockerfile}: COPY {source} is excluded by .dockerignore"
                )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "prefect --help"),  # the image's CMD
        (["worker", "start", "--pool", "kubernetes"], "prefect worker start --pool kubernetes"),
        (["--version"], "prefect --version"),
        (["sh", "-c", "echo as-given"], "as-given"),  # a program on PATH runs as given
        (["/bin/echo", "abs"], "abs"),
    ],
)
def test_python_entrypoint_runs_commands_as_given_else_the_default(args: list[str], expected: str) -> None:
    """What Prefect's flow-run pods (`args: [prefect, flow-run, execute]`) and users rely on."""
    default = ["echo", "prefect"]
    argv = ["sh", str(IMAGES_DIR / "python-entrypoint.sh"), *default, "--", *(args or ["--help"])]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    assert out == expected
