/**
 * Which fields of which events are a person's data, and whose: the event contracts' own knowledge,
 * kept beside them so a context adding an event with an email or a name adds it here. The store
 * wrapper (src/privacy) encrypts these fields with the subject's key on append and opens them on
 * read; once the key is destroyed they read as `ERASED`.
 */
export interface PersonalFields {
  /** The data field holding the id of the person the fields belong to. */
  subject: string;
  /** Top-level string fields encrypted with that person's key (names of every schema version). */
  fields: readonly string[];
}

export const personalFields: Readonly<Record<string, PersonalFields>> = {
  UserRegistered: { subject: 'userId', fields: ['email', 'name', 'passwordHash'] },
  UserRemoved: { subject: 'userId', fields: ['email'] },
  // An argon2 hash is derived from the person's secret: it goes with the person.
  UserPasswordRehashed: { subject: 'userId', fields: ['passwordHash'] },
  PasswordChanged: { subject: 'userId', fields: ['passwordHash'] },
  PasswordReset: { subject: 'userId', fields: ['passwordHash'] },
  PasswordResetByAdmin: { subject: 'userId', fields: ['passwordHash'] },
  UsernameSet: { subject: 'userId', fields: ['username'] },
  ProjectCreated: { subject: 'leadId', fields: ['leadEmail'] },
  ProjectMemberAdded: { subject: 'userId', fields: ['email'] },
};
