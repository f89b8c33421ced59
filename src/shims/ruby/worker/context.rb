# frozen_string_literal: true

# The handler's `context:` argument, with aws_lambda_ric's class name, constructor and readers
# (lib/aws_lambda_ric/lambda_context.rb). It is built from a request that answers
# `request['Lambda-Runtime-...']` like the Runtime API's response headers, so code that builds
# one by hand for its own tests keeps working.
class LambdaContext
  W3C_ALLOWED_FIELDS = %w[traceparent tracestate baggage].freeze

  attr_reader :aws_request_id, :invoked_function_arn, :log_group_name,
              :log_stream_name, :function_name, :memory_limit_in_mb, :function_version,
              :identity, :tenant_id, :client_context, :deadline_ms

  def initialize(request)
    # Wall clock at construction, carried forward on the monotonic clock.
    @clock_diff = Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond) -
                  Process.clock_gettime(Process::CLOCK_MONOTONIC, :millisecond)
    @deadline_ms = request['Lambda-Runtime-Deadline-Ms'].to_i
    @aws_request_id = request['Lambda-Runtime-Aws-Request-Id']
    @invoked_function_arn = request['Lambda-Runtime-Invoked-Function-Arn']
    @log_group_name = ENV['AWS_LAMBDA_LOG_GROUP_NAME']
    @log_stream_name = ENV['AWS_LAMBDA_LOG_STREAM_NAME']
    @function_name = ENV['AWS_LAMBDA_FUNCTION_NAME']
    @memory_limit_in_mb = ENV['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']
    @function_version = ENV['AWS_LAMBDA_FUNCTION_VERSION']
    cognito = request['Lambda-Runtime-Cognito-Identity'].to_s
    @identity = JSON.parse(cognito) unless cognito.empty?
    tenant = request['Lambda-Runtime-Aws-Tenant-Id'].to_s
    @tenant_id = tenant unless tenant.empty?
    @w3c_fields = {}
    client = request['Lambda-Runtime-Client-Context'].to_s
    return if client.empty?

    parsed = JSON.parse(client)
    @w3c_fields = self.class.extract_and_strip_w3c(parsed)
    @client_context = parsed
  end

  # Milliseconds until the deadline, never negative.
  def get_remaining_time_in_millis
    left = @deadline_ms - (Process.clock_gettime(Process::CLOCK_MONOTONIC, :millisecond) + @clock_diff)
    left.positive? ? left : 0
  end

  # The W3C trace context that came in the client context's "w3c" member (a copy).
  def w3c
    @w3c_fields.dup
  end

  # Remove "w3c" from a parsed client context; keep its allow-listed string members.
  def self.extract_and_strip_w3c(client_context)
    return {} unless client_context.is_a?(Hash) && client_context.key?('w3c')

    raw = client_context.delete('w3c')
    return {} unless raw.is_a?(Hash)

    W3C_ALLOWED_FIELDS.each_with_object({}) do |key, out|
      out[key] = raw[key] if raw[key].is_a?(String)
    end
  end
end
