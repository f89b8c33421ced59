#!/usr/bin/env bash
# A complete ferric worker in bash (docs/PROTOCOL.md): it answers every event with the event.
#   ferric -- bash examples/raw/echo_worker.sh
# Frames arrive on stdin; answers go to stdout; logs go to stderr. Byte semantics throughout.
export LC_ALL=C

field() { # field NAME HEADER -> the value of a string or integer field
  local rest=${2#*\"$1\":}
  [ "$rest" = "$2" ] && return 1
  rest=${rest#\"}
  printf '%s' "${rest%%[\",\}]*}"
}

printf '{"type":"ready","protocol":1,"runtime":"bash %s"}\n' "$BASH_VERSION"
while IFS= read -r header; do
  case $(field type "$header") in
    shutdown) echo "echo worker: shutting down" >&2; exit 0 ;;
    invoke) ;;
    *) echo "echo worker: ignoring frame: $header" >&2; continue ;;
  esac
  id=$(field id "$header")
  len=$(field len "$header")
  payload=""
  if [ "$len" -gt 0 ]; then IFS= read -r -d '' -N "$len" payload; fi
  IFS= read -r _ # the newline after the payload
  echo "echo worker: request $id, $len bytes" >&2
  printf '{"type":"result","id":"%s","content_type":"application/json","len":%d}\n%s\n' \
    "$id" "${#payload}" "$payload"
done
