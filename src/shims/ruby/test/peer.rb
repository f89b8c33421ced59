# frozen_string_literal: true

# Runs a handler under the real aws_lambda_ric (v3) against a fake Runtime API on 127.0.0.1,
# with a telemetry log file, and records what it posts and logs: the other half of
# test_differential.rb. The peer is the installed gem, or the lib/ directory named by
# FERRIC_RUBY_PEER_LIB (a checkout of aws/aws-lambda-ruby-runtime-interface-client).
require 'socket'
require 'json'
require 'rbconfig'

module RubyShim
  module Peer
    Post = Struct.new(:path, :content_type, :error_type, :xray_cause, :body, keyword_init: true)
    Run = Struct.new(:posts, :records, :status, :output, keyword_init: true)

    def self.lib
      dir = ENV['FERRIC_RUBY_PEER_LIB'].to_s
      return dir unless dir.empty?

      spec = Gem::Specification.find_all_by_name('aws_lambda_ric').max_by(&:version) if defined?(Gem)
      spec && File.join(spec.full_gem_path, 'lib')
    end

    def self.available?
      (dir = lib) && File.file?(File.join(dir, 'aws_lambda_ric.rb')) &&
        File.read(File.join(dir, 'aws_lambda_ric.rb')).include?('class Bootstrap')
    end

    # Serve `events` (hashes: id, body, content_type, trace_id, client_context, cognito, tenant)
    # one per /next, collect the posts; stop the peer once every event is answered (or it
    # exits). Returns a Run.
    def self.run(handler, events, cwd:, env: {}, timeout: 20)
      server = TCPServer.new('127.0.0.1', 0)
      port = server.addr[1]
      tele_path = File.join(Dir.mktmpdir('ferric-peer-'), 'telemetry')
      tele = File.open(tele_path, 'wb')
      out_r, out_w = IO.pipe
      full_env = RubyShim.base_env(cwd).reject { |k, _| k.start_with?('FERRIC_') }
                         .merge('_HANDLER' => handler, 'AWS_LAMBDA_RUNTIME_API' => "127.0.0.1:#{port}",
                                '_LAMBDA_TELEMETRY_LOG_FD' => '5').merge(env)
      code = "require 'aws_lambda_ric'; AwsLambdaRIC::Bootstrap.new.start"
      pid = Process.spawn(full_env, RbConfig.ruby, '-I', lib, '-e', code, chdir: cwd,
                          unsetenv_others: true, close_others: true, in: File::NULL,
                          out: out_w, err: out_w, 5 => tele, pgroup: true)
      out_w.close
      tele.close
      output = +''
      reader = Thread.new { output << out_r.read }
      posts = []
      queue = events.dup
      answered = 0
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      status = nil
      loop do
        _, status = Process.waitpid2(pid, Process::WNOHANG)
        break if status
        break if answered >= events.size && !events.empty?
        break if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

        next unless server.wait_readable(0.05)

        conn = server.accept
        path, headers, body = read_request(conn)
        if path.end_with?('/runtime/invocation/next')
          ev = queue.shift
          if ev.nil?
            conn.close # the peer is told nothing more; it is stopped below
            next
          end
          respond_event(conn, ev)
        else
          posts << Post.new(path: path, content_type: headers['content-type'],
                            error_type: headers['lambda-runtime-function-error-type'],
                            xray_cause: headers['lambda-runtime-function-xray-error-cause'], body: body)
          answered += 1 if path.include?('/invocation/') || path.end_with?('/init/error')
          conn.write("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
          conn.close
          answered = events.size if path.end_with?('/init/error')
        end
      end
      unless status
        # Give a peer that is about to exit (after a critical error) a moment to do so.
        20.times do
          _, status = Process.waitpid2(pid, Process::WNOHANG)
          break if status

          sleep 0.02
        end
      end
      unless status
        Process.kill('KILL', -pid)
        _, status = Process.waitpid2(pid)
        status = nil
      end
      reader.join(5)
      Run.new(posts: posts, records: records(File.binread(tele_path)), status: status, output: output)
    ensure
      server&.close
    end

    def self.read_request(conn)
      line = conn.gets.to_s
      headers = {}
      while (h = conn.gets) && h != "\r\n"
        k, v = h.chomp.split(': ', 2)
        headers[k.downcase] = v
      end
      body = headers['content-length'] ? conn.read(headers['content-length'].to_i) : +''
      [line.split(' ')[1].to_s, headers, body.b]
    end

    def self.respond_event(conn, ev)
      h = {
        'Lambda-Runtime-Aws-Request-Id' => ev[:id],
        'Lambda-Runtime-Deadline-Ms' => ev[:deadline_ms].to_s,
        'Lambda-Runtime-Invoked-Function-Arn' => 'arn:aws:lambda:us-east-1:123456789012:function:test-fn',
        'Content-Type' => ev[:content_type] || 'application/json',
        'Lambda-Runtime-Trace-Id' => ev[:trace_id],
        'Lambda-Runtime-Client-Context' => ev[:client_context],
        'Lambda-Runtime-Cognito-Identity' => ev[:cognito_identity],
        'Lambda-Runtime-Aws-Tenant-Id' => ev[:tenant_id]
      }.compact
      body = ev[:body].b
      head = h.map { |k, v| "#{k}: #{v}\r\n" }.join
      conn.write("HTTP/1.1 200 OK\r\n#{head}Content-Length: #{body.bytesize}\r\nConnection: close\r\n\r\n")
      conn.write(body)
      conn.close
    end

    # The messages of the telemetry frames (type 0xa55a0003, length, timestamp, message).
    def self.records(bin)
      out = []
      until bin.empty?
        type, len = bin.unpack('L>L>')
        raise "not a telemetry frame: #{bin[0, 16].inspect}" unless type == 0xa55a0003

        out << bin[16, len].force_encoding(Encoding::UTF_8)
        bin = bin[(16 + len)..]
      end
      out
    end
  end
end
