-- The empty playbook for the start-up benchmark: one step that does
-- nothing (a playbook needs at least one), so `mnem run` measures start-up,
-- validation, the run record and exit.
-- luacheck: globals playbook step
playbook {
  name = "empty",
  description = "Does nothing; the start-up benchmark runs it",
  steps = {
    step "Do nothing" { run = function() end },
  },
}
