# frozen_string_literal: true

# Invocations: handler forms, the event, the context, the response bytes and content type, and
# errors raised from handlers, as aws_lambda_ric produces them.
# Peer sources cited as FILE:LINE are aws/aws-lambda-ruby-runtime-interface-client lib/ (see README).
require_relative 'harness'

class InvokeTest < Minitest::Test
  include RubyShim::Helpers

  # A JSON String from the default marshaller has no content type (`a, b = "json"` leaves b nil:
  # aws_lambda_ric.rb:88), so Net::HTTP.post drops the nil header and sends its default for a body.
  JSON_TYPE = 'application/x-www-form-urlencoded'

  def result(w, event = '{}', **opts)
    h, body = w.invoke(event, **opts)
    assert_equal 'result', h['type'], w.logs
    [h, body]
  end

  # ---- handler forms (lambda_handler.rb:10-17, 25-29; harness-suite.json test_echo ... test_deep_module_echo)

  def test_file_method
    w = ready('core.ping')
    h, body = result(w, { 'msg' => 'message' }, id: 'id-1')
    assert_equal 'id-1', h['id']
    assert_equal JSON_TYPE, h['content_type']
    assert_equal '{"msg":"pong[message]"}', body
    assert_equal "Hello, loggers!\n", w.logs
  end

  def test_file_class_method
    w = ready('core.HandlerClass.ping')
    _, body = result(w, { 'msg' => 'MyMessage' })
    assert_equal %("Module Message: 'MyMessage'"), body
  end

  def test_file_module_class_method
    w = ready('core.DeepModule::Handler.ping')
    _, body = result(w, { 'msg' => 'MyMessage' })
    assert_equal %("Deep Module Message: 'MyMessage'"), body
  end

  def test_string_event
    w = ready('core.str_ping')
    _, body = result(w, '"message"')
    assert_equal '{"msg":"pong[message]"}', body
  end

  def test_handler_state_lives_on_one_lambda_handler_object
    # Top-level methods are called with __send__ on the LambdaHandler made at start-up.
    w = ready('core.counter')
    _, body = result(w)
    assert_equal '{"count":1,"self":"LambdaHandler"}', body
    _, body = result(w)
    assert_equal '{"count":2,"self":"LambdaHandler"}', body
  end

  # ---- the event (aws_lambda_marshaller.rb:12-19)

  def test_event_is_parsed_only_for_application_json
    w = ready('core.raw_event')
    _, body = result(w, '{"a":1}', content_type: 'application/json; charset=utf-8')
    assert_equal '{"a":1}'.bytes, json(body)['bytes']
    _, body = result(w, '{"a":1}', content_type: 'text/plain')
    assert_equal 'String', json(body)['class']
    assert_equal 'UTF-8', json(body)['encoding'], 'all ASCII: as Net::HTTP leaves it'
  end

  # ---- responses (aws_lambda_marshaller.rb:27-34, lambda_server.rb:44-58)

  def test_response_values
    {
      'core.string' => [{ 'msg' => 'x' }, %("Message: 'x'")],
      'core.nothing' => [{}, 'null'],
      'core.echo' => [{ 'a' => [1, 2.5, nil, true], 'b' => { 'c' => '/' } }, '{"a":[1,2.5,null,true],"b":{"c":"/"}}'],
      'core.unicode' => ['""', "{\"hello\":\"\u4eca\u65e5\u306f\u30e9\u30e0\u30c0!\"}"]
    }.each do |handler, (event, expected)|
      w = ready(handler)
      h, body = result(w, event)
      assert_equal JSON_TYPE, h['content_type']
      assert_equal expected.b, body, handler
    end
  end

  def test_objects_without_to_json_become_their_to_s
    w = ready('core.object')
    _, body = result(w)
    assert_match(/\A"#<Object:0x[0-9a-f]+>"\z/, body)
  end

  def test_io_responses_are_raw_bytes_as_application_unknown
    w = ready('core.io_echo')
    h, body = result(w, "raw\x00\xff".b, content_type: 'application/octet-stream')
    assert_equal 'application/unknown', h['content_type']
    assert_equal "raw\x00\xff".b, body
  end

  def test_a_marshaller_override_chooses_body_and_content_type
    w = ready('marshal_override.handler')
    h, body = result(w, 'payload', id: 'm1', content_type: 'text/plain')
    assert_equal 'text/html; charset=utf-8', h['content_type']
    assert_equal '<p>text/plain payload m1</p>', body
  end

  def test_a_response_that_cannot_be_posted_is_a_runtime_error
    # RapidClient#send_response raises inside Net::HTTP -> LambdaRuntimeError
    # (lambda_server.rb:57-58), sent without a log line, then exit(-2) (aws_lambda_ric.rb:106-107).
    w = ready('marshal_override.integer')
    h, body = w.invoke
    assert_equal 'error', h['type']
    err = json(body)
    assert_equal 'Runtime<NoMethodError>', err['errorType']
    assert_match(/bytesize/, err['errorMessage'])
    assert_equal 'Runtime<NoMethodError>', h['error_type']
    assert_equal 254, w.wait.exitstatus
    assert_equal '', w.logs
  end

  def test_a_non_string_content_type_is_a_runtime_error
    w = ready('marshal_override.symbol')
    h, body = w.invoke
    assert_equal 'error', h['type']
    assert_equal 'Runtime<NoMethodError>', json(body)['errorType']
    assert_equal 254, w.wait.exitstatus
  end

  # ---- the context (lambda_context.rb)

  def test_context
    w = ready('core.context_fields')
    deadline = w.now_ms + 30_000
    cc = { 'custom' => { 'a' => '1' }, 'env' => { 'platform' => 'android' },
           'client' => { 'installation_id' => 'id1234' },
           'w3c' => { 'traceparent' => '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
                      'baggage' => 'userId=alice', 'tracestate' => 42, 'other' => 'x' } }
    cognito = { 'cognitoIdentityId' => '4ab95ea510c14353a7f6da04489c43b8',
                'cognitoIdentityPoolId' => '35ab4794a79a4f23947d3e851d3d6578' }
    _, body = result(w, '{}', id: 'ctx-1', deadline_ms: deadline,
                              arn: 'arn:aws:lambda:us-east-1:123456789012:function:test-fn:prod',
                              client_context: JSON.generate(cc), cognito_identity: JSON.generate(cognito),
                              tenant_id: 'blue')
    c = json(body)
    assert_equal 'ctx-1', c['aws_request_id']
    assert_equal 'arn:aws:lambda:us-east-1:123456789012:function:test-fn:prod', c['invoked_function_arn']
    assert_equal '/aws/lambda/test-fn', c['log_group_name']
    assert_equal '2026/01/01/[$LATEST]abcdef', c['log_stream_name']
    assert_equal 'test-fn', c['function_name']
    assert_equal '512', c['memory_limit_in_mb'], 'the variable as it is: lambda_context.rb:21'
    assert_equal '$LATEST', c['function_version']
    assert_equal cognito, c['identity']
    assert_equal cc.reject { |k, _| k == 'w3c' }, c['client_context'], 'w3c is stripped: lambda_context.rb:27-30'
    assert_equal({ 'traceparent' => cc['w3c']['traceparent'], 'baggage' => 'userId=alice' }, c['w3c'])
    assert_equal 'blue', c['tenant_id']
    assert_equal deadline, c['deadline_ms']
    assert_operator c['remaining'], :>, 25_000
    assert_operator c['remaining'], :<=, 30_000
    assert_equal 'LambdaContext', c['class']
    assert_equal %w[@clock_diff @deadline_ms @aws_request_id @invoked_function_arn @log_group_name
                    @log_stream_name @function_name @memory_limit_in_mb @function_version @identity
                    @tenant_id @w3c_fields @client_context], c['ivars']
  end

  def test_context_without_optional_headers
    w = ready('core.context_fields')
    _, body = result(w, '{}', deadline_ms: w.now_ms - 5000, client_context: '', cognito_identity: nil)
    c = json(body)
    assert_nil c['identity']
    assert_nil c['client_context']
    assert_nil c['tenant_id']
    assert_equal({}, c['w3c'])
    assert_equal 0, c['remaining'], 'never negative: lambda_context.rb:36'
    refute_includes c['ivars'], '@identity'
  end

  # ---- errors raised from handlers

  # The error frame's payload is to_lambda_response.to_json (lambda_server.rb:65-69), logged first
  # as "Error raised from handler method" (or "Critical exception from handler") and the
  # pretty JSON (aws_lambda_ric.rb:100-105, lambda_logger.rb:6-7).
  def handler_error(w, message, **opts)
    h, body = w.invoke('{}', **opts)
    assert_equal 'error', h['type'], w.logs
    err = json(body)
    assert_equal %w[errorMessage errorType stackTrace], err.keys
    assert_equal JSON.generate(err), body
    assert_equal "#{message}\n#{JSON.pretty_generate(err)}\n", w.logs
    cause = JSON.parse(h['xray_cause'])
    assert_equal %w[working_directory paths exceptions], cause.keys, 'xray_cause.rb:9-13'
    assert_equal RubyShim::APP, cause['working_directory'] # the worker's cwd: Dir.pwd
    ex = cause['exceptions'].first
    assert_equal %w[message type stack], ex.keys
    assert_equal [err['errorMessage'], err['errorType']], [ex['message'], ex['type']]
    ex['stack'].each { |f| assert_equal %w[path line label], f.keys }
    [h, err]
  end

  def test_handler_error
    w = ready('core.broken')
    h, err = handler_error(w, 'Error raised from handler method')
    assert_equal 'Function<ArgumentError>', err['errorType'] # harness-suite.json test_error
    assert_equal 'Function<ArgumentError>', h['error_type']
    assert_equal 'My error message.', err['errorMessage']
    assert_equal 1, err['stackTrace'].size, 'cut at the runtime (lambda_errors.rb:37-50)'
    assert_match(/\A#{Regexp.escape(fixture('core.rb'))}:\d+:in [`'](Object#)?broken'\z/, err['stackTrace'][0])
    # The worker keeps serving.
    h, = w.invoke(id: 'next')
    assert_equal %w[error next], [h['type'], h['id']]
  end

  def test_custom_error_classes_are_user_exceptions_in_the_header
    w = ready('core.custom_error')
    h, err = handler_error(w, 'Error raised from handler method')
    assert_equal 'Function<MyError>', err['errorType']
    assert_equal 'Function<UserException>', h['error_type'] # lambda_errors.rb:18-24, 63-65
  end

  def test_stack_trace_lists_the_users_frames_innermost_first
    w = ready('core.deep_error')
    _, err = handler_error(w, 'Error raised from handler method')
    assert_equal 'Function<RuntimeError>', err['errorType']
    labels = err['stackTrace'].map { |f| f[/in [`'](?:Object#)?(.*)'\z/, 1] }
    assert_equal %w[level_two level_one deep_error], labels
  end

  def test_wrong_arity_is_an_argument_error
    w = ready('core.two_positional')
    _, err = handler_error(w, 'Error raised from handler method')
    assert_equal 'Function<ArgumentError>', err['errorType']
    assert_match(/wrong number of arguments/, err['errorMessage'])
  end

  def test_unserialisable_result
    w = ready('core.nan')
    _, err = handler_error(w, 'Error raised from handler method')
    assert_equal 'Function<JSON::GeneratorError>', err['errorType']
  end

  # Critical exceptions: NoMethodError, NameError, anything not a StandardError
  # (lambda_handler.rb:32-41): sent, then exit(-1) = 255 (aws_lambda_ric.rb:103-105, 58).

  def test_missing_method_is_critical
    w = ready('core.sir_not_appearing_in_this_file')
    h, err = handler_error(w, 'Critical exception from handler')
    assert_equal 'Function<NoMethodError>', err['errorType'] # harness-suite.json test_invalid_handler_method
    assert_equal 'Function<NoMethodError>', h['error_type']
    message = err['errorMessage'].gsub(/0x\h+/, '0x...')
    if RUBY_VERSION < '3.2'
      # The receiver is a LambdaHandler with the peer's instance variables (lambda_handler.rb:12),
      # and error_highlight quotes the peer's call line (lambda_handler.rb:28).
      assert_equal "undefined method `sir_not_appearing_in_this_file' for #<LambdaHandler:0x... " \
                   '@handler_file_name="core", @handler_method_name="sir_not_appearing_in_this_file">' \
                   "\n\n      response = __send__(@handler_method_name, **opts)\n                 ^^^^^^^^", message
    else
      assert_match(/\Aundefined method [`']sir_not_appearing_in_this_file' for (#<LambdaHandler|an instance of LambdaHandler)/, message)
    end
    assert_equal 255, w.wait.exitstatus
  end

  def test_missing_class_is_critical
    w = ready('core.Does::Not::Exist.handler')
    _, err = handler_error(w, 'Critical exception from handler')
    assert_equal 'Function<NameError>', err['errorType'] # harness-suite.json test_invalid_handler_class
    # Kernel.const_get('Does::Not::Exist') (lambda_handler.rb:26) names Kernel.
    assert err['errorMessage'].start_with?('uninitialized constant Kernel::Does'), err['errorMessage']
    assert_equal 255, w.wait.exitstatus
  end

  def test_class_without_the_method_is_critical
    w = ready('core.PandoraTest.handler')
    _, err = handler_error(w, 'Critical exception from handler')
    assert_equal 'Function<NoMethodError>', err['errorType']
    assert_equal 255, w.wait.exitstatus
  end

  def test_name_error_in_the_handler_is_critical
    w = ready('core.call_missing')
    _, err = handler_error(w, 'Critical exception from handler')
    assert_equal 'Function<NameError>', err['errorType']
    assert_equal 255, w.wait.exitstatus
  end

  def test_exit_in_the_handler_is_critical
    w = ready('core.hard_exit')
    h, err = handler_error(w, 'Critical exception from handler')
    assert_equal 'Function<SystemExit>', err['errorType'] # harness-suite.json test_process_exit
    assert_equal 'Function<SystemExit>', h['error_type']
    assert_equal 'exit', err['errorMessage']
    assert_equal 255, w.wait.exitstatus, 'exit(-1), not the handler\'s 42'
  end

  def test_stack_overflow_is_critical
    w = ready('core.stack_overflow')
    h, body = w.invoke
    assert_equal 'error', h['type']
    err = json(body)
    assert_equal 'Function<SystemStackError>', err['errorType'] # harness-suite.json test_stack_overflow
    assert_equal 'Function<SystemStackError>', h['error_type']
    assert_operator err['stackTrace'].size, :<=, 100
    assert_operator h['xray_cause'].bytesize, :<, 64 * 1024
    assert_equal 255, w.wait.exitstatus
  end

  # ---- what escapes aws_lambda_ric's loop: reported as an init error (refused after init), exit 252

  def test_invalid_json_event_ends_the_worker
    w = ready('core.echo')
    w.send_frame({ 'type' => 'invoke', 'id' => 'bad', 'deadline_ms' => w.now_ms + 1000,
                   'content_type' => 'application/json' }, '{not json')
    assert_equal 252, w.wait.exitstatus
    assert_nil w.read_frame
    assert w.logs.start_with?("Init error when loading handler \n{\n  \"errorMessage\": "), w.logs
    assert_includes w.logs, '"errorType": "Init<JSON::ParserError>"'
  end

  def test_invalid_client_context_ends_the_worker
    w = ready('core.echo')
    w.send_frame({ 'type' => 'invoke', 'id' => 'bad', 'deadline_ms' => w.now_ms + 1000,
                   'client_context' => '{oops' }, '{}')
    assert_equal 252, w.wait.exitstatus
    assert_includes w.logs, '"errorType": "Init<JSON::ParserError>"'
  end

  def test_an_error_whose_message_is_not_utf8_ends_the_worker
    # JSON.pretty_generate raises in LambdaLogger.log_error; aws_lambda_ric's loop dies.
    w = ready('core.bad_utf8_error')
    w.send_frame({ 'type' => 'invoke', 'id' => 'u', 'deadline_ms' => w.now_ms + 1000 }, '{}')
    assert_equal 252, w.wait.exitstatus
    assert_nil w.read_frame
    assert w.logs.start_with?("Error raised from handler method\nInit error when loading handler \n"), w.logs
    assert_includes w.logs, '"errorType": "Init<JSON::GeneratorError>"'
  end
end
