# frozen_string_literal: true

# What user code finds loaded before it runs. aws_lambda_ric's executable starts with
# `require 'bundler/setup'` (bin/aws_lambda_ric), then loads json, logger, stringio, time and
# net/http (lib/aws_lambda_ric/*.rb), so handlers written for it use JSON, Logger, StringIO,
# Time.parse, Net::HTTP, URI(), Timeout or TCPSocket without requiring them.
module Ferric
  module Libraries
    # Loaded now: small, and Logger must exist before it is patched.
    EAGER = %w[json logger stringio time].freeze

    # Loaded on first use, as net/http would have loaded them (~30 ms of start-up otherwise).
    AUTOLOAD = {
      'uri' => %i[URI],
      'timeout' => %i[Timeout],
      'zlib' => %i[Zlib],
      'openssl' => %i[OpenSSL],
      'ipaddr' => %i[IPAddr],
      'socket' => %i[Socket BasicSocket IPSocket TCPSocket TCPServer UDPSocket UNIXSocket
                     UNIXServer Addrinfo SocketError]
    }.freeze

    # What loading net/http requires by name, through $LOAD_PATH.
    NET_HTTP_FEATURES = %w[net/http net/protocol uri socket timeout zlib io/wait openssl ipaddr].freeze

    class << self
      # bundler/setup first, so a Gemfile's versions of json, logger... win, as with
      # aws_lambda_ric. Its errors (a missing gem) end the process as they would there.
      # `task_root` is about to go first on $LOAD_PATH: when one of its files would shadow a
      # library net/http loads, net/http is loaded now, before it can, as under aws_lambda_ric.
      def load(task_root)
        require 'bundler/setup' if gemfile?
        EAGER.each { |name| require name }
        if shadowed?(task_root)
          require 'net/http'
          return
        end
        AUTOLOAD.each do |feature, names|
          names.each { |name| Object.autoload(name, feature) unless Object.const_defined?(name, false) }
        end
        lazy_net_http unless Object.const_defined?(:Net, false) && Net.const_defined?(:HTTP, false)
        lazy_uri_method unless Kernel.private_method_defined?(:URI)
      end

      private

      def shadowed?(task_root)
        NET_HTTP_FEATURES.any? do |feature|
          %w[.rb .so].any? { |ext| File.exist?(File.join(task_root, feature + ext)) }
        end
      end

      # Bundler's own test: BUNDLE_GEMFILE, else a Gemfile or gems.rb in the working directory
      # or above it.
      def gemfile?
        return true unless ENV['BUNDLE_GEMFILE'].to_s.empty?

        dir = Dir.pwd
        loop do
          return true if File.file?(File.join(dir, 'Gemfile')) || File.file?(File.join(dir, 'gems.rb'))

          parent = File.dirname(dir)
          return false if parent == dir

          dir = parent
        end
      end

      # Net::HTTP is an autoload (so `defined?(Net::HTTP)` holds, as instrumentation gems
      # check); any other Net constant loads net/http first. net/smtp & co. reopen Net as usual.
      def lazy_net_http
        net = Object.const_defined?(:Net, false) ? Net : Object.const_set(:Net, Module.new)
        net.autoload(:HTTP, 'net/http') unless net.const_defined?(:HTTP, false)
        net.define_singleton_method(:const_missing) do |name|
          require 'net/http'
          const_defined?(name, false) ? const_get(name, false) : super(name)
        end
      end

      # Kernel#URI comes with uri; this stand-in loads uri, which replaces it, and calls the real
      # one (quietly: replacing the stand-in is the point, not a "method redefined" warning).
      def lazy_uri_method
        Kernel.module_eval do
          private def URI(*args, **kwargs)
            verbose = $VERBOSE
            $VERBOSE = nil
            begin
              require 'uri'
            ensure
              $VERBOSE = verbose
            end
            if Kernel.instance_method(:URI).source_location&.first&.start_with?(Ferric::ROOT)
              raise NoMethodError, "undefined method `URI' for #{inspect}"
            end

            kwargs.empty? ? URI(*args) : URI(*args, **kwargs)
          end
        end
      end
    end
  end
end
