-- recipes.aws_account: make sure a playbook talks to the account it means.
--
--   step "Check who we are" (aws_account.check_identity(function(ctx)
--     return { account = "123456789012" }
--   end))
local aws = require("aws")
local errors = require("mnem.errors")
local settings = require("recipes.settings")

local M = {}

-- The settings of check_identity, as recipes.settings declares them. The
-- account id is a string because STS returns it as one: a number would
-- never match, and one with a leading zero would lose it.
local IDENTITY_FIELDS = {
  account = { type = "string" },
  profile = { type = "string" },
  region = { type = "string" },
}

--- Returns the fields of a step that selects the AWS profile and region
-- SPEC(ctx).profile and .region for every later AWS call of the run, calls
-- STS GetCallerIdentity and fails when the account differs from
-- SPEC.account, before anything changes. Outputs: { account, arn, user_id }.
-- Unknown settings and values of the wrong type raise.
function M.check_identity(spec_of)
  settings.expect_function("aws_account.check_identity", spec_of)
  return {
    description = "Call STS GetCallerIdentity and compare the account with the environment's",
    run = function(ctx)
      local spec = settings.read("aws_account.check_identity", spec_of, ctx, IDENTITY_FIELDS)
      if spec.profile or spec.region then
        aws.configure{ profile = spec.profile, region = spec.region }
      end
      local id = aws.sts.get_caller_identity{}
      if spec.account and id.Account ~= spec.account then
        errors.raise{ kind = "check", code = "WrongAccount",
                      message = ("the credentials belong to account %s (%s), but this environment is account %s: "
                        .. "check the profile and AWS_PROFILE"):format(id.Account, id.Arn, spec.account) }
      end
      ctx.log.info(("running as %s in account %s"):format(id.Arn, id.Account))
      return { account = id.Account, arn = id.Arn, user_id = id.UserId }
    end,
  }
end

--- The settings each recipe function accepts, as recipes.settings declares
-- them: function name -> setting name -> { type, required, ... }.
M.FIELDS = { check_identity = IDENTITY_FIELDS }

return M
