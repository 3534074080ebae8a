#!/usr/bin/env bash
# AWS CLI v2, self-contained (its own Python) under /opt/aws-cli, the folder Nextflow mounts into task
# containers (aws.batch.cliPath = /opt/aws-cli/bin/aws). The version is pinned; the installer's PGP signature
# must verify against the AWS CLI team's key, identified by its pinned fingerprint; AWS_CLI_SHA256, when set,
# pins the zip itself. Downloaded at build time only.
#
# The key is read from $BATCH_AMI_FILES/aws-cli-team.asc when that file exists (builds without keyserver
# access: drop the key from the AWS CLI install guide into packer/files/), else fetched from a keyserver.
set -euo pipefail

: "${AWS_CLI_VERSION:?AWS_CLI_VERSION is required}"
: "${AWS_CLI_PGP_FINGERPRINT:?AWS_CLI_PGP_FINGERPRINT is required}"
PREFIX="${AWS_CLI_PREFIX:-/opt/aws-cli}"
BASE_URL="${AWS_CLI_BASE_URL:-https://awscli.amazonaws.com}"
KEYSERVER="${AWS_CLI_KEYSERVER:-hkps://keyserver.ubuntu.com}"
KEY_FILE="${BATCH_AMI_FILES:-/nonexistent}/aws-cli-team.asc"
ARCH="$(uname -m)"
case "$ARCH" in
  x86_64 | aarch64) ;;
  *) echo "unsupported architecture: $ARCH" >&2; exit 1 ;;
esac

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
url="${BASE_URL}/awscli-exe-linux-${ARCH}-${AWS_CLI_VERSION}.zip"

echo "==> AWS CLI ${AWS_CLI_VERSION} (${ARCH})"
curl -fsSL --retry 5 --retry-delay 2 -o "$work/awscliv2.zip" "$url"
curl -fsSL --retry 5 --retry-delay 2 -o "$work/awscliv2.sig" "${url}.sig"

if [ -n "${AWS_CLI_SHA256:-}" ]; then
  echo "${AWS_CLI_SHA256}  $work/awscliv2.zip" | sha256sum -c -
fi

export GNUPGHOME="$work/gnupg"
install -d -m 0700 "$GNUPGHOME"
# From a keyserver an extended expiry is picked up (it was due 2026-07-07, aws/aws-cli#10474). Either way, only a
# key with exactly the pinned fingerprint may vouch for the installer.
if [ -f "$KEY_FILE" ]; then
  gpg --batch --quiet --import "$KEY_FILE"
else
  gpg --batch --quiet --keyserver "$KEYSERVER" --recv-keys "$AWS_CLI_PGP_FINGERPRINT"
fi
keys="$(gpg --batch --with-colons --fingerprint "$AWS_CLI_PGP_FINGERPRINT" 2>/dev/null || true)"
if ! grep -q "^fpr:::::::::${AWS_CLI_PGP_FINGERPRINT}:" <<<"$keys"; then
  echo "no key with the pinned fingerprint ${AWS_CLI_PGP_FINGERPRINT} (key file or keyserver)" >&2
  exit 1
fi
status="$(gpg --batch --status-fd 1 --verify "$work/awscliv2.sig" "$work/awscliv2.zip" 2>/dev/null || true)"
if ! grep -qE "^\[GNUPG:\] VALIDSIG .*${AWS_CLI_PGP_FINGERPRINT}( |$)" <<<"$status" ||
  grep -qE "^\[GNUPG:\] (BADSIG|ERRSIG|REVKEYSIG)" <<<"$status"; then
  echo "AWS CLI installer signature does not verify against ${AWS_CLI_PGP_FINGERPRINT}:" >&2
  echo "$status" >&2
  exit 1
fi
if grep -q "^\[GNUPG:\] EXPKEYSIG" <<<"$status"; then
  echo "warning: the AWS CLI signing key has expired; the signature itself is valid (fingerprint pinned)" >&2
fi

unzip -q "$work/awscliv2.zip" -d "$work"
rm -rf "$PREFIX"
"$work/aws/install" --install-dir "$PREFIX/v2" --bin-dir "$PREFIX/bin"

installed="$("$PREFIX/bin/aws" --version)"
echo "$installed"
case "$installed" in
  "aws-cli/${AWS_CLI_VERSION} "*) ;;
  *) echo "expected aws-cli/${AWS_CLI_VERSION}, got: $installed" >&2; exit 1 ;;
esac
# Everything the CLI needs lives under the prefix, so a container that mounts it can run it.
test -x "$PREFIX/v2/current/bin/aws"
