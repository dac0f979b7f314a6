-- recipes.aws_account: make sure a playbook talks to the account it means.
--
--   step "Check who we are" (aws_account.check_identity(function(ctx)
--     return { account = "123456789012" }
--   end))
local aws = require("aws")
local errors = require("mnem.errors")

local M = {}

--- Returns the fields of a step that selects the AWS profile and region
-- SPEC(ctx).profile and .region for every later AWS call of the run, calls
-- STS GetCallerIdentity and fails when the account differs from
-- SPEC.account, before anything changes. Outputs: { account, arn, user_id }.
function M.check_identity(spec_of)
  return {
    description = "Call STS GetCallerIdentity and compare the account with the environment's",
    run = function(ctx)
      local spec = spec_of(ctx)
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

return M
