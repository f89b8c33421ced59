# ferric Ruby worker bootstrap: reads the shim's files from the bundle on FERRIC_SHIM_FD, then runs main.rb
module Ferric
  ROOT = '/ferric/ruby/'
  SOURCES = {}
  env = ENV.to_h
  %w[FERRIC_SHIM_FD FERRIC_SHIM_KEY FERRIC_SHIM_CACHE FERRIC_SHIM_PREPARE].each { |k| ENV.delete(k) }
  KEY = env['FERRIC_SHIM_KEY'].to_s
  CACHE = env['FERRIC_SHIM_CACHE'].to_s
  PREPARE = env['FERRIC_SHIM_PREPARE'] == '1'
  begin
    io = IO.for_fd(Integer(env['FERRIC_SHIM_FD'].to_s), 'rb')
    # pread only: every worker shares this file description, hence its offset.
    index, = io.pread(4096, 0).split("\n\n", 2)
    lines = index.split("\n")
    raise ArgumentError, 'not a ferric bundle' unless lines.shift == 'ferric-bundle 1'
    lines.each do |line|
      off, len, name = line.split(' ', 3)
      n = Integer(len)
      SOURCES[name] = (n.zero? ? +'' : io.pread(n, Integer(off))).force_encoding(Encoding::UTF_8)
    end
    io.close
  rescue StandardError => e
    $stderr.write("ferric ruby shim: cannot read the bundle on FERRIC_SHIM_FD: #{e.message}\n")
    exit!(2)
  end

  # Compile one bundled file under its own path (frames show /ferric/ruby/NAME) and run it at
  # the top level, as `load` would.
  def self.load_file(name)
    RubyVM::InstructionSequence.compile(SOURCES.fetch(name), ROOT + name, ROOT + name, 1).eval
  end
end
Ferric.load_file('main.rb')
