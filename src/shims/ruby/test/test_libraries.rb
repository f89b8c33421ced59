# frozen_string_literal: true

# What handlers find loaded. aws_lambda_ric's executable runs `require 'bundler/setup'`
# (bin/aws_lambda_ric:7), then its library loads json (lambda_server.rb:6), net/http
# (lambda_server.rb:5), logger (aws_lambda_ric.rb:16), stringio (aws_lambda_marshaller.rb:5) and
# time (telemetry_log_sink.rb:4) before the handler's file: handlers use them without a require.
require_relative 'harness'
require 'open3'

class LibrariesTest < Minitest::Test
  include RubyShim::Helpers

  PEER_REQUIRES = %w[json logger stringio time net/http].freeze
  # The names aws_lambda_ric itself defines (lib/aws_lambda_ric/*.rb); the shim defines only the
  # public ones (see README, "Differences").
  PEER_OWN = %w[AwsLambda AwsLambdaRIC LambdaContext LambdaErrors LambdaHandler LambdaLogger
                LogFormatter JsonLogFormatter LoggerPatch TelemetryLogSink RapidClient XRayCause].freeze

  def test_every_constant_the_peers_requires_define_is_there
    code = "#{PEER_REQUIRES.map { |r| "require '#{r}'" }.join(';')}; puts Object.constants.sort"
    reference, status = Open3.capture2(RubyShim::RUBY, '-e', code)
    assert status.success?
    w = ready('core.libraries')
    h, body = w.invoke
    assert_equal 'result', h['type'], w.logs
    got = json(body)
    missing = reference.split - got['constants']
    assert_equal [], missing
    assert_equal '/a', got['uri']
    assert_equal 'constant', got['net_http']
    assert_equal 'Net::HTTP', got['net_http_class']
    assert_equal 'Net::HTTPSuccess', got['success']
    assert_equal 2026, got['time']
    assert_equal 'ok', got['timeout']
    assert_equal 'TCPSocket', got['tcp']
    assert_equal '[1]', got['json']
    assert_equal 'x', got['stringio']
    extra = got['constants'] - reference.split - %w[HandlerClass DeepModule PandoraTest MyError]
    assert_equal %w[AwsLambda AwsLambdaRIC Ferric LambdaContext LambdaHandler].sort, extra.sort
    assert_empty(extra - PEER_OWN - ['Ferric'])
  end

  def test_net_http_loads_lazily_and_other_net_libraries_still_load
    w = ready('core.net_smtp_then_http')
    h, body = w.invoke
    assert_equal 'result', h['type'], w.logs
    assert_equal({ 'smtp' => 'Net::SMTP', 'http' => 'Net::HTTP', 'protocol' => 'Net::Protocol',
                   'explicit' => true, 'get' => 'Net::HTTP::Get', 'read_timeout' => 'Net::ReadTimeout' },
                 json(body))
  end

  def test_date_through_time_and_rubygems
    w = ready('core.date_and_friends')
    _, body = w.invoke
    assert_equal({ 'date' => '2026-01-02', 'iso' => '1970-01-01T00:00:00Z', 'gem' => '1.2' }, json(body))
  end
end

class ShadowTest < Minitest::Test
  include RubyShim::Helpers

  def test_a_task_root_file_named_like_a_net_http_library_does_not_shadow_it
    # Under aws_lambda_ric net/http (and so timeout) is loaded before the task root goes on
    # $LOAD_PATH; a task root with its own timeout.rb must not change which one Net::HTTP gets.
    Dir.mktmpdir do |dir|
      File.write(File.join(dir, 'timeout.rb'), "TIMEOUT_SHADOW = true\n")
      File.write(File.join(dir, 'app.rb'), <<~RUBY)
        def handler(event:, context:)
          { shadow: defined?(TIMEOUT_SHADOW), net: Net::HTTP.name, t: Timeout.timeout(1) { 1 },
            again: require('timeout') }
        end
      RUBY
      w = ready('app.handler', cwd: dir)
      _, body = w.invoke
      assert_equal({ 'shadow' => nil, 'net' => 'Net::HTTP', 't' => 1, 'again' => false }, json(body))
    end
  end
end
