# An API Gateway proxy handler for Ruby, as written for aws_lambda_ric: it runs unchanged behind
# ferric (handler string `app.handler`). Works with REST API (v1) and HTTP API (v2) proxy events
# and with plain JSON events: it greets the caller named in the query string, the JSON body or
# the event itself.

require 'json'
require 'logger'

LOGGER = Logger.new($stdout)
LOGGER.level = Logger::INFO

GREETING = ENV.fetch('GREETING', 'Hello')

module Greeter
  module_function

  def name_from(event)
    return nil unless event.is_a?(Hash)

    query = event['queryStringParameters'] || {}
    return query['name'] if query['name'] && !query['name'].empty?

    body = event['body']
    if body && !body.empty?
      parsed = begin
        JSON.parse(body)
      rescue JSON::ParserError
        nil
      end
      return parsed['name'] if parsed.is_a?(Hash) && parsed['name'] && !parsed['name'].to_s.empty?
    end
    event['name']
  end

  def method_and_path(event)
    return [nil, nil] unless event.is_a?(Hash)

    http = (event['requestContext'] || {})['http'] || {}
    method = event['httpMethod'] || http['method']
    path = event['path'] || event['rawPath'] || http['path']
    [method, path]
  end
end

def handler(event:, context:)
  name = Greeter.name_from(event) || 'world'
  method, path = Greeter.method_and_path(event)
  LOGGER.info("greeting #{name} (#{method} #{path})")
  body = {
    message: "#{GREETING}, #{name}!",
    method: method,
    path: path,
    requestId: context.aws_request_id,
    functionName: context.function_name,
    remainingMs: context.get_remaining_time_in_millis
  }
  {
    statusCode: 200,
    headers: { 'Content-Type' => 'application/json' },
    body: JSON.generate(body)
  }
end
