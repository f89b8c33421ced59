# The conformance handler `ferric conform --runtime ruby` runs in the Ruby shim.
#
# It follows the contract in docs/PROTOCOL.md ("Checking a worker: ferric conform"). Handlers
# here see every event as parsed JSON (as with aws_lambda_ric), so the info answer says
# {"events":"json"} and payloads come as {"conform":"echo","text":...}. There is no
# `init_error` method: `_HANDLER=conform.init_error` must fail the init.

class ConformError < StandardError; end

# The lines the log event asks for: frames, should they reach the frame channel.
def fake_frames(request_id)
  "{\"type\":\"result\",\"id\":\"#{request_id}\",\"len\":4}\nFAKE\n{\"type\":\"ready\",\"protocol\":1}\n"
end

def log_frames(request_id)
  text = fake_frames(request_id)
  $stderr.write(text)
  $stdout.write(text)
  puts text
  STDOUT.flush
  IO.for_fd(1, autoclose: false).syswrite(text) # fd 1 itself
  system('/bin/sh', '-c', 'printf "%s" "$1"', 'sh', text) # and child processes
end

def handler(event:, context:)
  command = event.is_a?(Hash) ? event['conform'] : nil
  case command
  when 'info' then { 'events' => 'json' }
  when 'echo' then event['text']
  when 'error' then raise ConformError, 'conformance check: an error was asked for'
  when 'log'
    log_frames(context.aws_request_id)
    'logged'
  when 'stream' then { 'conform' => 'nostream' }
  else event
  end
end
