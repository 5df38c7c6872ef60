// Which jobs this domain approves without a person: ferry.yaml's
// `jobs.autoApprove`, a list of {partners, appImages} rules ("*" matches any).
// Closed by default: with no rule every job a partner proposes waits for
// `ferry job approve`. Pure.
import { ValidationError } from '../resources/validation-error.ts';
import type { ApprovalPolicy } from './controller.ts';

export interface AutoApproveRule {
  /** Initiators whose jobs this rule approves ("*": any trusted partner). */
  partners: string[];
  /** App images the job's tasks at this domain may use ("*" or absent: any). */
  appImages?: string[];
}

export function approvalPolicy(rules: readonly AutoApproveRule[] | undefined): ApprovalPolicy {
  (rules ?? []).forEach((r, i) => {
    if (!Array.isArray(r?.partners) || r.partners.length === 0 || r.partners.some((p) => typeof p !== 'string')) {
      throw new ValidationError(`jobs.autoApprove[${i}].partners`, 'give the initiators whose jobs are approved without a person, e.g. [alice] or ["*"]');
    }
    if (r.appImages !== undefined && (!Array.isArray(r.appImages) || r.appImages.some((a) => typeof a !== 'string'))) {
      throw new ValidationError(`jobs.autoApprove[${i}].appImages`, 'give a list of AppImage names, or omit it for any');
    }
  });
  const matches = (list: readonly string[] | undefined, value: string) => !list || list.includes('*') || list.includes(value);
  return {
    autoApprove(initiator, appImages) {
      const i = (rules ?? []).findIndex((r) => matches(r.partners, initiator) && appImages.every((a) => matches(r.appImages, a)));
      return i < 0 ? undefined : `approved by jobs.autoApprove[${i}] in ferry.yaml`;
    },
  };
}
