-- exec: programs run from argument lists, with timeouts, env, cwd, stdin.
local t = require("t")
local exec = require("mnem.exec")
local log = require("mnem.log")

-- Keep the streamed output of these tests out of the test report.
local sink = assert(io.open("/dev/null", "w"))
log.configure{ stream = sink }

t.test("exec captures stdout and stderr", function()
  local r = exec{ "sh", "-c", "echo out; echo err >&2" }
  t.eq(r.code, 0, "exit code")
  t.eq(r.ok, true, "ok flag")
  t.eq(r.stdout, "out\n", "stdout")
  t.eq(r.stderr, "err\n", "stderr")
end)

t.test("exec passes arguments without a shell", function()
  local r = exec{ "printf", "%s|", "a b", "$HOME", "; rm -rf /" }
  t.eq(r.stdout, "a b|$HOME|; rm -rf /|")
end)

t.test("exec raises on non-zero exit", function()
  local e = t.raises(function() exec{ "sh", "-c", "echo boom >&2; exit 3" } end)
  t.eq(e.kind, "exec", "kind")
  t.eq(e.code, "ExitStatus", "code")
  t.eq(e.exit_status, 3, "exit status")
  t.contains(tostring(e), "exited with status 3: boom")
end)

t.test("exec check=false returns the status", function()
  local r = exec{ "sh", "-c", "exit 5", check = false }
  t.eq(r.code, 5)
  t.eq(r.ok, false)
end)

t.test("exec missing program is NotFound", function()
  local e = t.raises(function() exec{ "mnem-no-such-program" } end)
  t.eq(e.code, "NotFound")
  t.contains(e.message, "mnem-no-such-program")
end)

t.test("exec timeout kills the process group", function()
  local marker = t.tmpdir() .. "/survived"
  local started = os.time()
  local e = t.raises(function()
    exec{ "sh", "-c", "(sleep 2; touch " .. marker .. ") & sleep 30", timeout = 0.3 }
  end)
  t.eq(e.code, "Timeout", "code")
  t.eq(e.retryable, true, "retryable")
  t.ok(os.time() - started < 10, "returned promptly")
  os.execute("sleep 2.5")
  t.eq(io.open(marker) == nil, true, "the background grandchild was killed too")
end)

t.test("exec env merges into the environment", function()
  local r = exec{ "sh", "-c", "echo $MNEM_EXEC_TEST:$HOME", env = { MNEM_EXEC_TEST = "x y" } }
  t.eq(r.stdout, "x y:" .. os.getenv("HOME") .. "\n")
end)

t.test("exec env_replace passes only the given env", function()
  local r = exec{ "/usr/bin/env", env = { ONLY = "1" }, env_replace = true }
  t.eq(r.stdout, "ONLY=1\n")
end)

t.test("exec cwd and stdin", function()
  local dir = t.tmpdir()
  local r = exec{ "sh", "-c", "pwd; cat", cwd = dir, stdin = "from stdin" }
  t.eq(r.stdout, dir .. "\nfrom stdin")
end)

t.test("exec large output is captured whole", function()
  local r = exec{ "sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x", stream = false }
  t.eq(#r.stdout, 3000000)
end)

t.test("exec max_output keeps the tail", function()
  local r = exec{ "sh", "-c", "seq 1 100000", stream = false, max_output = 1000 }
  t.ok(#r.stdout < 40000, "output was capped")
  t.ok(r.stdout:sub(-7) == "100000\n", "the last line is kept")
end)

t.test("exec rejects unknown options", function()
  t.raises(function() exec{ "true", timout = 1 } end, 'unknown option "timout" (did you mean "timeout"?)')
end)

t.test("exec rejects non-string arguments", function()
  t.raises(function() exec{ "echo", {} } end, "argument 2 must be a string")
end)

t.test("exec.shell runs a pipeline", function()
  t.eq(exec.shell("echo abc | tr a-z A-Z").stdout, "ABC\n")
end)

t.test("exit error quotes a worded line", function()
  local err = t.raises(function()
    exec{ "sh", "-c", "echo 'ERROR: relation \"markers\" does not exist' >&2; echo '       ^' >&2; exit 1",
          stream = false }
  end)
  t.eq(err.code, "ExitStatus")
  t.contains(err.message, 'exited with status 1: ERROR: relation "markers" does not exist')
  local plain = t.raises(function() exec{ "sh", "-c", "echo '^' >&2; exit 2", stream = false } end)
  t.contains(plain.message, "exited with status 2: ^", "no worded line: the last line")
end)

t.test("exec streams lines to the log", function()
  local path = t.tmpdir() .. "/log"
  local f = assert(io.open(path, "w"))
  log.configure{ stream = f }
  exec{ "sh", "-c", "echo first; echo second" }
  log.configure{ stream = sink }
  f:close()
  local text = t.read_file(path)
  t.contains(text, "sh: first\n")
  t.contains(text, "sh: second\n")
end)

t.test("exec stream in JSON names the command", function()
  local path = t.tmpdir() .. "/log"
  local f = assert(io.open(path, "w"))
  log.configure{ stream = f, format = "json" }
  exec{ "sh", "-c", "echo first" }
  log.configure{ stream = sink, format = "text" }
  f:close()
  local text = t.read_file(path)
  t.contains(text, '"command":"sh"')
  t.contains(text, '"message":"sh: first"')
end)

t.test("exec.spawn runs in the background", function()
  local h = exec.spawn({ "sleep", "30" })
  t.ok(h.pid > 0, "has a pid")
  t.eq(h:wait(0.1), nil, "still running")
  local status = h.stop()
  t.eq(status.signal, 15, "stopped by SIGTERM")
end)

return t.done()
