# frozen_string_literal: true

# The frame channel (docs/PROTOCOL.md): frames from ferric on a private copy of fd 0, frames to
# ferric on a private copy of the FERRIC_PROTOCOL_FD descriptor. Nothing but this file touches them.
module Ferric
  # ferric's limit for the header lines a worker writes.
  MAX_HEADER_OUT = 64 * 1024
  # Headers from ferric carry the client context and Cognito identity: allow 1 MiB.
  MAX_HEADER_IN = 1024 * 1024

  # A broken contract with ferric: say why on stderr and stop at once (no exit hooks).
  def self.fatal(message)
    $stderr.write("ferric ruby shim: protocol error: #{message}\n")
  rescue StandardError
    nil
  ensure
    exit!(2)
  end

  # Flush whatever user code buffered, so its logs come before the frame that follows them.
  def self.flush_logs
    [$stdout, $stderr, STDOUT, STDERR].uniq.each do |io|
      io.flush if io.respond_to?(:flush)
    rescue StandardError
      nil
    end
  end

  class Channel
    # Take the frame channel away from user code: frames are read from a close-on-exec copy of
    # fd 0 (fd 0 becomes /dev/null) and written to a close-on-exec copy of the protocol fd (with
    # FERRIC_PROTOCOL_FD=1, fd 1 then points at fd 2). Child processes inherit neither.
    def self.setup
      spec = ENV.delete('FERRIC_PROTOCOL_FD') || '1'
      out_fd = Integer(spec, exception: false)
      unless out_fd && (out_fd == 1 || out_fd >= 3)
        Ferric.fatal("FERRIC_PROTOCOL_FD=#{spec.inspect} is not a usable file descriptor")
      end
      begin
        input = STDIN.dup # Ruby's dup is F_DUPFD_CLOEXEC
        STDIN.reopen(File::NULL, 'r')
        if out_fd == 1
          output = STDOUT.dup
          STDOUT.reopen(STDERR)
        else
          raw = IO.for_fd(out_fd, 'wb', autoclose: true)
          output = raw.dup
          raw.close
        end
      rescue SystemCallError, IOError => e
        Ferric.fatal("cannot set up the frame channel: #{e.message}")
      end
      new(input, output)
    end

    def initialize(input, output)
      @owner = Process.pid
      @in = input
      @in.binmode
      @out = output
      @out.binmode
      @out.sync = true
      @lock = Mutex.new
    end

    # [header Hash, payload String or nil], or nil at a clean end of input.
    def read_frame
      forked_child_exit
      line = @in.gets("\n", MAX_HEADER_IN + 1)
      return nil if line.nil?

      unless line.end_with?("\n")
        Ferric.fatal("frame header longer than #{MAX_HEADER_IN} bytes") if line.bytesize > MAX_HEADER_IN
        Ferric.fatal('input closed in the middle of a frame header')
      end
      header = begin
        JSON.parse(line.force_encoding(Encoding::UTF_8))
      rescue JSON::ParserError, EncodingError => e
        Ferric.fatal("invalid frame header (#{e.message.lines.first.to_s.strip}): #{line[0, 200].inspect}")
      end
      Ferric.fatal("frame header is not a JSON object: #{line[0, 200].inspect}") unless header.is_a?(Hash)
      Ferric.fatal("frame header without a string type: #{line[0, 200].inspect}") unless header['type'].is_a?(String)
      return [header, nil] unless header.key?('len')

      length = header['len']
      Ferric.fatal("invalid len in frame header: #{length.inspect}") unless length.is_a?(Integer) && length >= 0
      payload = length.zero? ? String.new(encoding: Encoding::BINARY) : @in.read(length)
      Ferric.fatal("input closed in the middle of a #{length}-byte payload") if payload.nil? || payload.bytesize != length
      Ferric.fatal("the #{length}-byte payload is not followed by a newline") unless @in.read(1) == "\n"
      [header, payload]
    rescue SystemCallError, IOError => e
      Ferric.fatal("cannot read frames: #{e.message}")
    end

    # Write one frame with one write call, after flushing the logs. `fields` is an ordered Hash;
    # a payload adds "len". Header strings are scrubbed to valid UTF-8 (ferric reads JSON).
    def write_frame(fields, payload = nil)
      forked_child_exit
      fields = fields.merge('len' => payload.bytesize) if payload
      data = JSON.generate(fields.transform_values { |v| v.is_a?(String) ? v.scrub : v }).b
      data << "\n"
      (data << payload.b << "\n") if payload
      Ferric.flush_logs
      @lock.synchronize { @out.write(data) }
    rescue SystemCallError, IOError => e
      Ferric.fatal("cannot write to the frame channel: #{e.message}")
    end

    # A process forked by user code (`fork` without a block) that returned into the shim must
    # neither answer nor read ferric's frames: only the worker itself does.
    def forked_child_exit
      exit!(0) unless Process.pid == @owner
    end

    # The header length a frame with these fields would have (to keep it under 64 KiB).
    def self.header_size(fields)
      JSON.generate(fields.transform_values { |v| v.is_a?(String) ? v.scrub : v }).bytesize + 24
    end
  end
end
