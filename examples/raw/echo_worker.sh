#!/usr/bin/env bash
# A complete ferric worker in bash (docs/PROTOCOL.md): it answers every event with the event,
# byte for byte, and follows the conformance handler contract, so it passes `ferric conform`:
#   ferric -- bash examples/raw/echo_worker.sh
#   ferric conform -- bash examples/raw/echo_worker.sh
# Frames arrive on stdin; answers go to stdout; logs go to stderr. Byte semantics throughout.
export LC_ALL=C
bytes=$(mktemp) || exit 1 # for payloads that may hold NUL bytes, which no shell variable can
trap 'rm -f "$bytes"' EXIT

log() { echo "echo worker: $*" >&2; }
die() { log "protocol error: $*"; exit 2; } # input that breaks the framing

field() { # field NAME HEADER: set $NAME to the header's top-level string or integer field NAME
  if [[ $2 =~ \"$1\":\"?([^\",}]*) ]]; then printf -v "$1" '%s' "${BASH_REMATCH[1]}"
  else printf -v "$1" ''; fi
}

end_of_payload() { # the "\n" that follows every payload
  IFS= read -r -N 1 newline && [ "$newline" = $'\n' ] || die "payload cut off or not followed by a newline"
}

read_text() { # read_text LEN: set $payload to the next LEN bytes (JSON text: no NUL bytes)
  payload=""
  if [ "$1" -gt 0 ]; then IFS= read -r -N "$1" payload; fi
  [ "${#payload}" -eq "$1" ] || die "stdin closed in the middle of a payload"
  end_of_payload
}

read_bytes() { # read_bytes LEN: copy the next LEN bytes into the file $bytes
  head -c "$1" >"$bytes" # GNU head reads no further than it is asked
  end_of_payload
}

reply() { # reply TYPE FIELDS TEXT: one frame with TEXT as its payload
  printf '{"type":"%s",%s,"len":%d}\n%s\n' "$1" "$2" "${#3}" "$3"
}

invoke() { # invoke ID CONTENT_TYPE LEN: read the event and answer it
  if [ "$2" != application/json ]; then # any bytes: echoed through the file
    read_bytes "$3"
    printf '{"type":"result","id":"%s","content_type":"%s","len":%d}\n' "$1" "$2" "$3"
    cat "$bytes"; echo
    return
  fi
  read_text "$3"
  case $payload in # the conformance events (docs/PROTOCOL.md, "Checking a worker")
    '{"conform":"error"}')
      reply error "\"id\":\"$1\",\"error_type\":\"ConformError\"" \
        '{"errorMessage":"an error was asked for","errorType":"ConformError"}' ;;
    '{"conform":"log"}') # lines that look like frames, where logs go
      printf '{"type":"result","id":"%s","len":4}\nFAKE\n{"type":"ready","protocol":1}\n' "$1" >&2
      reply result "\"id\":\"$1\"" '"logged"' ;;
    '{"conform":"stream"'*) reply result "\"id\":\"$1\"" '{"conform":"nostream"}' ;;
    *) reply result "\"id\":\"$1\",\"content_type\":\"application/json\"" "$payload" ;;
  esac
}

if [ "$_HANDLER" = conform.init_error ]; then # how a worker reports that its init failed
  reply init_error '"error_type":"Runtime.HandlerNotFound"' \
    '{"errorMessage":"no handler conform.init_error","errorType":"Runtime.HandlerNotFound"}'
  exit 1
fi
printf '{"type":"ready","protocol":1,"runtime":"bash %s"}\n' "$BASH_VERSION"
while true; do
  IFS= read -r header || { [ -z "$header" ] && exit 0; die "stdin closed in the middle of a header"; }
  field type "$header"
  field len "$header"
  [[ $header == \{*\} && -n $type ]] || die "not a frame header: ${header:0:80}"
  [[ $len =~ ^[0-9]*$ ]] || die "bad payload length: $len"
  case $type in
    invoke)
      field id "$header"
      field content_type "$header"
      [ -n "$id" ] || die "invoke without an id"
      log "request $id, ${len:-0} bytes"
      invoke "$id" "$content_type" "${len:-0}" ;;
    *)
      [ -z "$len" ] || read_bytes "$len" # a payload is read even when the frame is ignored
      if [ "$type" = shutdown ]; then log "shutting down"; exit 0; fi
      log "ignoring a $type frame" ;;
  esac
done
