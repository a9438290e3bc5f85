import { z } from 'zod';

/** Names of nodes, groups and resources: DNS-label-like, so they are safe in keys, paths and URLs. */
const NAME = /^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$/;
const NAME_HINT = 'lower-case letters, digits, "-", "_" or "." (1-63 chars, starting and ending alphanumeric)';

export const NodeIdSchema = z.string().regex(NAME, `expected a node name: ${NAME_HINT}`).brand<'NodeId'>();
export const GroupIdSchema = z.string().regex(NAME, `expected a group name: ${NAME_HINT}`).brand<'GroupId'>();
export const ResourceIdSchema = z.string().regex(NAME, `expected a resource name: ${NAME_HINT}`).brand<'ResourceId'>();
export const LeaseIdSchema = z.string().min(1).brand<'LeaseId'>();
/** Store revision: increases with every write, cluster-wide. */
export const RevisionSchema = z.number().int().nonnegative().brand<'Revision'>();
/** Fencing token of a group: increases every time its active instance changes hands. */
export const EpochSchema = z.number().int().nonnegative();

export type NodeId = z.infer<typeof NodeIdSchema>;
export type GroupId = z.infer<typeof GroupIdSchema>;
export type ResourceId = z.infer<typeof ResourceIdSchema>;
export type LeaseId = z.infer<typeof LeaseIdSchema>;
export type Revision = z.infer<typeof RevisionSchema>;
export type Epoch = z.infer<typeof EpochSchema>;

export const parseNodeId = (s: string): NodeId => NodeIdSchema.parse(s);
export const parseGroupId = (s: string): GroupId => GroupIdSchema.parse(s);
export const parseResourceId = (s: string): ResourceId => ResourceIdSchema.parse(s);
export const parseLeaseId = (s: string): LeaseId => LeaseIdSchema.parse(s);
export const parseRevision = (n: number): Revision => RevisionSchema.parse(n);
