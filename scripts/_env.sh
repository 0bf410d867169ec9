# Shared set-up for scripts/demo and scripts/test: system packages, then the project venv.
# Sourced, not run. Idempotent: a second run checks and returns in about a second.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
# What the tests and the demo need (espeak-ng speech for test clips and the tiny corpus; sox for
# the corpus's pitch shifting), and what building the full training corpus adds.
APT_PACKAGES=(espeak-ng libespeak-ng1 sox)
CORPUS_APT_PACKAGES=(flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)
# Debian's festival voices for the corpus's other languages: Italian (pc, lp; festlex-ifd), Russian
# (msu), Czech (ph, dita, machac, krb; festival-czech), Finnish (lj, mv; suopuhe-common). About
# 230 MB (the Russian voice is 179 MB), so scripts/make_corpus installs them only when it is asked
# for one of those languages.
FESTIVAL_LANGUAGE_APT_PACKAGES=(festvox-itapc16k festvox-italp16k festlex-ifd festvox-ru
                     festival-czech festvox-czech-ph festvox-czech-dita festvox-czech-machac
                     festvox-czech-krb festvox-suopuhe-common festvox-suopuhe-lj festvox-suopuhe-mv)

# MBROLA's diphone voices (recorded speakers, driven by espeak-ng's mb-* voices): the program is in
# Debian's contrib and the voices in non-free, so scripts/make_corpus adds those components of the
# machine's own Debian mirror to apt (sources.list.d/mouthpiece-mbrola.sources) only when it is
# asked for the mbrola engine. The voices may be used to synthesise speech with MBROLA only and not
# be sold or built into a product that is sold (docs/TRAINING.md).
# English us1-3 and en1, then the other languages' speakers (their voices and, for some, the same
# database reading English; server/corpus/mbrola_phones.py): about 450 MB in all.
MBROLA_APT_PACKAGES=(mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1
                     mbrola-de1 mbrola-de2 mbrola-de3 mbrola-de4 mbrola-de5 mbrola-de6 mbrola-de7 mbrola-de8
                     mbrola-fr1 mbrola-fr2 mbrola-fr3 mbrola-fr4 mbrola-fr5 mbrola-fr6 mbrola-fr7
                     mbrola-es1 mbrola-es2 mbrola-es3 mbrola-es4 mbrola-mx1 mbrola-mx2
                     mbrola-it1 mbrola-it2 mbrola-it3 mbrola-it4 mbrola-br1 mbrola-br2 mbrola-br3 mbrola-br4
                     mbrola-pt1 mbrola-pl1 mbrola-cz1 mbrola-cz2 mbrola-in1 mbrola-in2 mbrola-ar1 mbrola-ar2
                     mbrola-jp1 mbrola-jp2 mbrola-jp3 mbrola-nl2 mbrola-af1 mbrola-gr2 mbrola-hu1 mbrola-ro1
                     mbrola-sw1 mbrola-sw2)

say() { printf '\033[1m[mouthpiece]\033[0m %s\n' "$*" >&2; }

ensure_apt() {
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing system packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq || $sudo apt-get -o Acquire::Check-Valid-Until=false update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_mbrola_sources() {
    local missing=()
    for p in "${MBROLA_APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    local list=/etc/apt/sources.list.d/mouthpiece-mbrola.sources
    [ -f "$list" ] && return 0
    local uri suite
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    if [ -z "$uri" ] || [ -z "$suite" ]; then
        say "cannot find this machine's Debian mirror: add contrib and non-free to apt, then install ${missing[*]}"
        return 1
    fi
    say "adding Debian contrib and non-free ($uri $suite) to apt for MBROLA: $list"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$uri" "$suite" | $sudo tee "$list" >/dev/null
    $sudo apt-get update -qq || $sudo apt-get -o Acquire::Check-Valid-Until=false update -qq
}

find_python311() {
    for c in python3.11 "$HOME/.pyenv/versions/3.11"*/bin/python3.11 python3; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 10))'; then
            command -v "$c"; return 0
        fi
    done
    say "Python 3.10 or newer is needed (3.11 recommended)"; return 1
}

ensure_venv() {
    local stamp="$VENV/.mouthpiece-installed"
    if [ -f "$stamp" ] && [ "$stamp" -nt "$ROOT/pyproject.toml" ]; then return 0; fi
    if [ ! -x "$PY" ]; then
        say "creating $VENV"
        "$(find_python311)" -m venv "$VENV"
    fi
    "$PY" -m pip install -q --upgrade pip >/dev/null
    if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
        # The CPU build: an unpinned torch would pull a multi-GB CUDA build. With a GPU, install
        # your CUDA build of torch into .venv first and this step keeps it.
        say "installing torch (CPU build)"
        "$PY" -m pip install -q "torch==2.13.0" || "$PY" -m pip install -q "torch>=2.4,<2.15" \
            --index-url https://download.pytorch.org/whl/cpu
    fi
    say "installing Mouthpiece and its dependencies into .venv"
    "$PY" -m pip install -q -e "$ROOT[test]"
    touch "$stamp"
}

setup_all() {
    ensure_apt "${APT_PACKAGES[@]}"
    ensure_venv
}
