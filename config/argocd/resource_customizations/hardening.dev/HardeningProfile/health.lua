-- Health of a HardeningProfile (hardening.dev/v1alpha1, cluster-scoped), from the status the
-- hardening-operator writes (its README, section "Status").
--
-- The status follows the Kubernetes conventions that kstatus reads:
--   status.observedGeneration        the generation the status describes
--   conditions Ready (always first)  True: every governed namespace holds what the profile
--                                    renders (reason InSync, or Audited in Audit mode)
--   Reconciling=True                 namespaces not reconciled yet (present only while true)
--   Stalled=True                     a failure retrying cannot fix: an invalid spec, an
--                                    object someone else owns, a value the API server
--                                    keeps changing (present only while true)
--
-- Argo CD health:
--   Healthy      Ready=True at the current generation (Audit mode too: reporting without
--                enforcing is what such a profile is for)
--   Progressing  no status yet, a generation not observed yet, Reconciling=True, drift the
--                operator is repairing (Ready=False, reason Drifted), or the profile being
--                deleted while the operator cleans up
--   Degraded     Stalled=True, or Ready=False for any other reason (a namespace that
--                cannot be brought to the profile, guardrails not applied)
-- A profile cannot be paused, so it is never Suspended.
local hs = {}

local function condition(conditionType)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function text(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.reason or ""
end

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted: the operator removes what the profile generated"
  return hs
end

local ready = condition("Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report on the profile"
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. string.format("%d", generation)
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. text(stalled)
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready)
  return hs
end

local reconciling = condition("Reconciling")
if (reconciling ~= nil and reconciling.status == "True") or ready.reason == "Reconciling"
    or ready.reason == "Drifted" or ready.status ~= "False" then
  hs.status = "Progressing"
  hs.message = text(ready)
  return hs
end

hs.status = "Degraded"
hs.message = (ready.reason or "NotReady") .. ": " .. text(ready)
return hs
