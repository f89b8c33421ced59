# frozen_string_literal: true

# examples/ruby/app.rb, the API Gateway handler, on examples/events/*.json.
require_relative 'harness'

class ExampleTest < Minitest::Test
  include RubyShim::Helpers

  ROOT = File.expand_path('../../../..', __dir__)
  EXAMPLE = File.join(ROOT, 'examples', 'ruby')

  def event(name)
    File.read(File.join(ROOT, 'examples', 'events', name))
  end

  def test_rest_v1_event
    w = ready('app.handler', cwd: EXAMPLE)
    h, body = w.invoke(event('apigw-rest-v1.json'), id: '8476a536-e9f4-11e8-9739-2dfe598c3fcd',
                                                    deadline_ms: w.now_ms + 3000)
    assert_equal 'application/x-www-form-urlencoded', h['content_type']
    out = json(body)
    inner = json(out.delete('body'))
    assert_equal({ 'statusCode' => 200, 'headers' => { 'Content-Type' => 'application/json' } }, out)
    remaining = inner.delete('remainingMs')
    assert_includes 2000..3000, remaining
    assert_equal({ 'message' => 'Hello, Ferris!', 'method' => 'GET', 'path' => '/hello',
                   'requestId' => '8476a536-e9f4-11e8-9739-2dfe598c3fcd', 'functionName' => 'test-fn' }, inner)
    assert_match(/\AI, \[\S+ #\d+\]  INFO 8476a536-e9f4-11e8-9739-2dfe598c3fcd -- : greeting Ferris \(GET \/hello\)\n\z/, w.logs)
  end

  def test_http_v2_and_plain_events
    w = ready('app.handler', cwd: EXAMPLE, env: { 'GREETING' => 'Hi' })
    _, body = w.invoke(event('apigw-http-v2.json'))
    inner = json(json(body)['body'])
    assert_equal ['Hi, Lambda!', 'POST', '/hello'], inner.values_at('message', 'method', 'path')
    _, body = w.invoke(event('plain.json'))
    inner = json(json(body)['body'])
    assert_equal ["Hi, caf\u00e9 \u2615!", nil, nil], inner.values_at('message', 'method', 'path')
  end
end
