-- Argo CD health check for siskin.dev/v1beta1 Canary.
-- Install: docs/health-checks.md (key resource.customizations.health.siskin.dev_Canary in argocd-cm).
--
-- Reads what the controller writes: status.observedGeneration, the kstatus conditions Ready,
-- Reconciling and Stalled, and status.phase as a fallback for objects written before them.
--   Degraded     Stalled=True: rolled back, promotion failed, past the progress deadline, or a
--                spec that cannot work. Also phase Failed with no condition saying otherwise.
--   Suspended    spec.suspend, or a rollout held by a person: a manual gate, a pause.
--   Progressing  not reconciled yet, a new spec not observed yet, Reconciling=True (a rollout
--                or a wait in progress, a failed reconcile round that will be retried).
--   Healthy      Ready=True (Initialized or Succeeded).

local hs = {}

-- Reasons of Reconciling=True that mean the rollout waits for a person.
local held = {
  WaitingForApproval = true,
  WaitingForTrafficIncrease = true,
  WaitingForPromotion = true,
  Paused = true,
}

local function condition(ctype)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function message(c, default)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return default
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for Siskin to reconcile the Canary"
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for Siskin to observe generation " .. tostring(generation)
  return hs
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Reconciliation is suspended (spec.suspend)"
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = message(stalled, "Canary is stalled")
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  if held[reconciling.reason] then
    hs.status = "Suspended"
  else
    hs.status = "Progressing"
  end
  hs.message = message(reconciling, "Canary is progressing")
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message(ready, "Canary is ready")
  return hs
end

-- No decisive condition: fall back to the phase.
local phase = obj.status.phase
if phase == "Initialized" or phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = "Canary phase " .. phase
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = message(ready, "Canary rollout failed")
else
  hs.status = "Progressing"
  hs.message = message(ready, "Canary phase " .. tostring(phase))
end
return hs
