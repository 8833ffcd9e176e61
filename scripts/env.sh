# Sourced by the scripts: build settings shared by every build directory.
PHX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PHX_ROOT
# ccache hits across clones and build directories.
export CCACHE_BASEDIR="$PHX_ROOT"
export CCACHE_NOHASHDIR=true
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
PHX_JOBS=${PHX_JOBS:-$(nproc)}

# phx_build DIR [cmake args...]: configures (once) and builds DIR with Ninja: every target, or
# only those listed in PHX_TARGETS.
phx_build() {
  local dir=$1
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    cmake -S "$PHX_ROOT" -B "$dir" -G Ninja "$@" >/dev/null
  fi
  # shellcheck disable=SC2086
  ninja -C "$dir" -j "$PHX_JOBS" ${PHX_TARGETS:-}
}
