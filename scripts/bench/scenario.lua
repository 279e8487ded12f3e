-- One scenario, chosen by the BENCH_SCENARIO environment variable.
package.path = package.path .. ";" .. os.getenv("BENCH_DIR") .. "/?.lua"
require("common")

local scenario = os.getenv("BENCH_SCENARIO")
local key = os.getenv("BENCH_KEY")
local payment_id = os.getenv("BENCH_PAYMENT_ID")
local auth = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
local seq = 0

function request()
  seq = seq + 1
  if scenario == "health" then
    return wrk.format("GET", "/health")
  elseif scenario == "get_payment" then
    return wrk.format("GET", "/api/v1/payments/" .. payment_id, auth)
  elseif scenario == "validate_card" then
    return wrk.format("POST", "/api/v1/stripe/validate-card", auth,
      '{"card":{"number":"4242424242424242","exp_month":"12","exp_year":"2031","cvc":"123"}}')
  elseif scenario == "process" then
    local headers = {["Authorization"] = auth["Authorization"], ["Content-Type"] = "application/json",
                     ["Idempotency-Key"] = string.format("bench-%s-%d-%d-%d", os.getenv("BENCH_RUN"), id, seq, math.random(1e9))}
    return wrk.format("POST", "/api/v1/payments/process", headers,
      string.format('{"order_id":"bench-%s-%d-%d","amount":"19.99","currency":"usd","payment_method":"pm_card_visa"}',
                    os.getenv("BENCH_RUN"), id, seq))
  elseif scenario == "refund" then
    local headers = {["Authorization"] = auth["Authorization"], ["Content-Type"] = "application/json",
                     ["Idempotency-Key"] = string.format("bench-r-%s-%d-%d-%d", os.getenv("BENCH_RUN"), id, seq, math.random(1e9))}
    return wrk.format("POST", "/api/v1/payments/" .. payment_id .. "/refund", headers, '{"amount":"0.01"}')
  end
end
