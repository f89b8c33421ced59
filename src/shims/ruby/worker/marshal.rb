# frozen_string_literal: true

# Event and response marshalling, under aws_lambda_ric's public name (users may redefine these
# methods, and some libraries call them): lib/aws_lambda_ric/aws_lambda_marshaller.rb.
module AwsLambda
  class Marshaller
    class << self
      # The event: parsed JSON when the content type is exactly application/json, else the raw
      # body (a String encoded as Net::HTTP returns it: UTF-8 if all ASCII, else ASCII-8BIT).
      def marshall_request(raw_request)
        if raw_request['Content-Type'] == 'application/json'
          JSON.parse(raw_request.body)
        else
          raw_request.body
        end
      end

      # The response: an IO or StringIO is sent as its bytes with `application/unknown`;
      # anything else becomes `to_json` (a String: no content type, see Ferric.post_body).
      # A redefinition may return [body, content_type].
      def marshall_response(method_response)
        case method_response
        when StringIO, IO
          [method_response, 'application/unknown']
        else
          method_response.to_json
        end
      end
    end
  end
end

module Ferric
  # What aws_lambda_ric hands to the marshaller and the context: the Runtime API's answer to
  # /next (a Net::HTTPResponse there). Header names are case-insensitive, as in Net::HTTP.
  class Request
    attr_reader :body

    def initialize(header, payload)
      # Net::HTTP appends the bytes it reads to '' (net/http/response.rb `procdest`): the body
      # stays UTF-8 while it is all ASCII and becomes ASCII-8BIT with the first other byte.
      @body = payload.ascii_only? ? payload.force_encoding(Encoding::UTF_8) : payload.b
      @fields = {
        'lambda-runtime-aws-request-id' => header['id'],
        'lambda-runtime-deadline-ms' => header['deadline_ms']&.to_s,
        'lambda-runtime-invoked-function-arn' => header['arn'],
        'lambda-runtime-trace-id' => header['trace_id'],
        'lambda-runtime-client-context' => header['client_context'],
        'lambda-runtime-cognito-identity' => header['cognito_identity'],
        'lambda-runtime-aws-tenant-id' => header['tenant_id'],
        'content-type' => header['content_type'] || 'application/json'
      }.compact
    end

    def [](name)
      @fields[name.to_s.downcase]
    end

    def key?(name)
      @fields.key?(name.to_s.downcase)
    end

    def each_header(&block)
      @fields.each(&block)
    end
  end

  # The bytes and Content-Type aws_lambda_ric's RapidClient#send_response would post for a
  # marshalled response (lib/aws_lambda_ric/lambda_server.rb). `content_type` is nil for the
  # default marshaller's JSON String (`body, content_type = "..."`); Net::HTTP then drops the nil
  # header and supplies its default for a request with a body. Raises what Net::HTTP would raise.
  def self.post_body(body, content_type)
    body = body.read if content_type == 'application/unknown'
    body = '' if body.nil?
    body.bytesize # anything but a String fails here, as in Net::HTTP
    if content_type.nil?
      content_type = 'application/x-www-form-urlencoded'
    else
      content_type = content_type.strip
      if content_type.count("\r\n").positive?
        raise ArgumentError, "header Content-Type has field value #{content_type.inspect}, this cannot include CR/LF"
      end
    end
    [body.b, content_type]
  end
end
