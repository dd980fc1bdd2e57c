export {
  IMAGE_CANCEL_CHANNEL,
  IMAGE_OUTPUT_CAP_BYTES,
  IMAGES_QUEUE,
  type ImageBuildJobs,
  queueImageBuild,
  startImageBuildJobs,
} from './image-builds.ts';
export { workspaceOnApproval } from './on-approval.ts';
export { workspaceProvisioning } from './provisioning.ts';
